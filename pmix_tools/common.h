/*
 * Shared helpers for our PMIx tools (prun, pterm): how to find and join a
 * running PRRTE DVM, a one-shot "done" latch for PMIx callbacks, and the
 * one-line error convention.
 */
#ifndef PT_COMMON_H
#define PT_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <pmix_tool.h>

/* Exit statuses shared by both tools, so scripts can tell failures apart. */
enum {
    PT_EXIT_USAGE = 2,      /* bad command line */
    PT_EXIT_NO_DVM = 3,     /* could not connect to a DVM */
    PT_EXIT_PMIX = 4,       /* a PMIx request failed */
};

/* Which DVM to join; all unset means "let PMIx search its rendezvous files". */
struct pt_conn {
    char *uri;              /* PMIX_SERVER_URI (already read from file:PATH) */
    pid_t pid;              /* pid of the DVM's prte, 0 = unset */
    bool system_only;       /* PMIX_CONNECT_TO_SYSTEM */
    bool system_first;      /* PMIX_CONNECT_SYSTEM_FIRST */
};

/* A latch released once from a PMIx callback (which runs on PMIx's own
 * progress thread) and waited on by the main thread. */
struct pt_latch {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool released;
    pmix_status_t status;
};

extern const char *pt_prog;

void pt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse --dvm-uri / --dvm values: file:PATH, pid:N, system, system-first or
 * a literal URI. Returns false (after printing why) when unusable. */
bool pt_conn_set_dvm(struct pt_conn *conn, const char *spec);
bool pt_conn_set_pid(struct pt_conn *conn, const char *text);

/* PMIx_tool_init towards the DVM described by conn (searching for it when
 * conn names none, which fills conn->uri); iof_out: write forwarded job
 * output to our stdout/stderr. Prints the error. */
pmix_status_t pt_tool_init(struct pt_conn *conn, pmix_proc_t *me, bool iof_out);

/* The wheel's libpmix was built for another prefix; point it at the one
 * we are installed in (<prefix>/bin/<tool>) so its help texts are found
 * instead of a "help file not found" banner. Keeps a PMIX_PREFIX already set. */
void pt_setup_env(void);

void pt_latch_init(struct pt_latch *latch);
void pt_latch_release(struct pt_latch *latch, pmix_status_t status);
/* Wait until released or timeout_s seconds passed (<= 0: forever).
 * Returns false on timeout. */
bool pt_latch_wait(struct pt_latch *latch, int timeout_s);
void pt_latch_destroy(struct pt_latch *latch);

/* Callback for the *_nb calls whose only result is a status. */
void pt_op_done(pmix_status_t status, void *cbdata);
/* Callback for PMIx_Register_event_handler: the registration status. */
void pt_reg_done(pmix_status_t status, size_t ref, void *cbdata);

#endif
