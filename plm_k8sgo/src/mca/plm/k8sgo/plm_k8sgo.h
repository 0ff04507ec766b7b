/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo: start every daemon of a launch through one launcher process,
 *
 *     SCRIPT [-q] [ARGS...] -f HOSTFILE -- PRTED ARGV...
 *
 * where HOSTFILE lists the hosts in daemon order and the launcher gives
 * daemon i the variable PRTE_ESS_K8SGO_ID=i (read by ess/k8sgo).
 *
 * The files: plm_k8sgo_component.c (parameters, selection), _module.c (the
 * launch state and teardown), _argv.c (command lines and environment),
 * _launcher.c (the launcher processes), _placement.c (is daemon i on line
 * i's host?).
 */

#ifndef PRTE_PLM_K8SGO_H
#define PRTE_PLM_K8SGO_H

#include "prte_config.h"

#include <stdbool.h>
#include <sys/types.h>

#include "src/mca/mca.h"
#include "src/mca/plm/plm.h"
#include "src/runtime/prte_globals.h"

BEGIN_C_DECLS

/* the launcher used when plm=k8sgo is asked for without a script */
#define PRTE_PLM_K8SGO_DEFAULT_SCRIPT "basic_launcher"

/* The launcher's descriptors: its host list (an unlinked file, so nothing is
 * left in $TMPDIR whatever happens to prterun) and its lifeline, a pipe whose
 * write end prterun holds. EOF on the lifeline tells the launcher that the
 * daemons are being ended on purpose, or that prterun is gone. */
#define PRTE_PLM_K8SGO_HOSTFILE_FD 3
#define PRTE_PLM_K8SGO_LIFELINE_FD 4
#define PRTE_PLM_K8SGO_LIFELINE_ENV "K8SGO_LIFELINE_FD"
/* our launcher's own "let the others run" switch: never for plm/k8sgo, which
 * learns of a daemon that fails before calling back only from the launcher
 * ending (PRRTE 3.0 has no daemon start-up timeout) */
#define PRTE_PLM_K8SGO_KEEP_GOING_ENV "K8SGO_KEEP_GOING"
#define PRTE_PLM_K8SGO_KEEP_GOING_FLAG "--keep-going"
/* plm_k8sgo_detach: the launcher starts its daemons' guards detachable, and on
 * this signal ends every session and exits 0, the daemons running on */
#define PRTE_PLM_K8SGO_DETACHABLE_FLAG "--detachable"
#define PRTE_PLM_K8SGO_DETACH_SIGNAL SIGUSR1
/* what one-line messages start with: the tool the user typed */
#define PRTE_PLM_K8SGO_TOOL (NULL == prte_tool_basename ? "prterun" : prte_tool_basename)

typedef struct {
    prte_plm_base_component_t super;
    char *launch_script; /* plm_k8sgo_launch_script */
    bool launch_quiet;   /* plm_k8sgo_launch_quiet: pass -q */
    char *launch_args;   /* plm_k8sgo_launch_args: words put before -f */
    bool detach;         /* plm_k8sgo_detach: end the launchers' sessions once wired up */
} prte_mca_plm_k8sgo_component_t;

PRTE_MODULE_EXPORT extern prte_mca_plm_k8sgo_component_t prte_mca_plm_k8sgo_component;
PRTE_EXPORT extern prte_plm_base_module_t prte_plm_k8sgo_module;

/* One launcher process: the daemons [first, first + count) are its own. */
typedef struct {
    pid_t pid;          /* 0 once it has been reaped */
    int lifeline;       /* write end of its lifeline; -1 once closed */
    bool signalled;     /* we signalled it: how it then ended is not its failure */
    bool placed;        /* every one of its daemons was found on its own host */
    bool detaching;     /* asked to detach: its exit 0 is expected from then on */
    pmix_rank_t first;
    pmix_rank_t count;
    char **hosts;       /* hostfile line i's host (no user@), for the placement check */
} prte_plm_k8sgo_launch_t;

/* ---- plm_k8sgo_argv.c ---- */

/* SCRIPT [-q] [ARGS] -f /dev/fd/N -- */
void prte_plm_k8sgo_launcher_argv(int *argc, char ***argv, const char *script);
/* Appends the prted command line, with PRTE_PREFIX (and PATH/LD_LIBRARY_PATH
 * when a prefix is given, as plm/ssh sets them) and first as ess_base_vpid. */
int prte_plm_k8sgo_prted_argv(int *argc, char ***argv, const char *prefix,
                              const char *pmix_prefix, pmix_rank_t first);
/* The launcher's environment, made before fork: ours, without what is not
 * the launcher's business, with its lifeline named. Free with PMIX_ARGV_FREE. */
char **prte_plm_k8sgo_launcher_environ(void);
/* The prefix the DVM's daemons come from: decided at the first launch. */
int prte_plm_k8sgo_find_prefix(prte_job_t *jdata, prte_job_t *daemons, char **prefix);
char *prte_plm_k8sgo_find_pmix_prefix(prte_job_t *daemons);
/* "--keep-going" among the launch_args */
bool prte_plm_k8sgo_args_keep_going(void);

/* ---- plm_k8sgo_launcher.c ---- */

/* fork/exec the launcher with hostfile_fd as its host list; records the launch */
int prte_plm_k8sgo_start(char **argv, char **env, const char *path, int hostfile_fd,
                         pmix_rank_t first, pmix_rank_t count, char **hosts);
/* tell every launcher the end is ordered (EOF on its lifeline) */
void prte_plm_k8sgo_close_lifelines(void);
/* at finalize: wait, signal, reap every launcher; PRRTE's exit status if one
 * failed on its own while PRRTE was aborting */
void prte_plm_k8sgo_end_launchers(void);
int prte_plm_k8sgo_num_launches(void);
/* plm_k8sgo_detach: ask every launcher not yet asked to end its sessions */
void prte_plm_k8sgo_detach_launchers(void);
prte_plm_k8sgo_launch_t *prte_plm_k8sgo_launch(int i);

/* ---- plm_k8sgo_placement.c ---- */

/* Checks that every daemon that has reported runs on the host its hostfile
 * line names; shows a help text and returns false on the first that does not. */
bool prte_plm_k8sgo_check_placement(prte_job_t *daemons);

END_C_DECLS

#endif /* PRTE_PLM_K8SGO_H */
