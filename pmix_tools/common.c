/* Shared helpers for prun and pterm; see common.h. */
#include "common.h"
#include "dvm_find.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *pt_prog = "pmix-tool";

#ifndef PT_MARK
#define PT_MARK "kube-pmix-pmix-tools"
#endif
/* Lets the build tell our binaries from a real Open MPI prun/pterm. */
__attribute__((used)) static const char pt_mark[] = PT_MARK;

void pt_err(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", pt_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* prte --report-uri writes the URI as the file's first line. */
static char *read_uri_file(const char *path)
{
    char line[4096];
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        pt_err("cannot read DVM URI file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fgets(line, sizeof(line), f) == NULL) {
        fclose(f);
        pt_err("DVM URI file %s is empty", path);
        return NULL;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') {
        pt_err("DVM URI file %s is empty", path);
        return NULL;
    }
    return strdup(line);
}

bool pt_conn_set_pid(struct pt_conn *conn, const char *text)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX) {
        pt_err("invalid DVM pid '%s'", text);
        return false;
    }
    conn->pid = (pid_t)v;
    return true;
}

bool pt_conn_set_dvm(struct pt_conn *conn, const char *spec)
{
    if (strncmp(spec, "file:", 5) == 0) {
        free(conn->uri);
        conn->uri = read_uri_file(spec + 5);
        return conn->uri != NULL;
    }
    if (strncmp(spec, "pid:", 4) == 0) {
        return pt_conn_set_pid(conn, spec + 4);
    }
    if (strcmp(spec, "system") == 0) {
        conn->system_only = true;
        return true;
    }
    if (strcmp(spec, "system-first") == 0) {
        conn->system_first = true;
        return true;
    }
    if (spec[0] == '\0') {
        pt_err("empty DVM URI");
        return false;
    }
    free(conn->uri);
    conn->uri = strdup(spec);
    return conn->uri != NULL;
}

pmix_status_t pt_tool_init(struct pt_conn *conn, pmix_proc_t *me, bool iof_out)
{
    pmix_info_t info[2];
    size_t n = 1;
    pmix_status_t rc;
    bool yes = true;

    if (conn->system_only || conn->system_first) {
        PMIX_INFO_LOAD(&info[0], conn->system_only ? PMIX_CONNECT_TO_SYSTEM
                                                   : PMIX_CONNECT_SYSTEM_FIRST,
                       &yes, PMIX_BOOL);
    } else {
        /* No --dvm-uri and no pid: the DVM the environment names (prun
         * injected into a container, the FAQ's way), else our own search. A
         * pid alone is resolved by our search, not PMIX_SERVER_PIDINFO: PMIx
         * looks for that pid's file where prte does not write it. */
        if (conn->uri == NULL && conn->pid == 0) {
            conn->uri = pt_env_uri();
        }
        if (conn->uri == NULL && (conn->uri = pt_dvm_find(conn->pid)) == NULL) {
            return PMIX_ERR_NOT_FOUND;
        }
        PMIX_INFO_LOAD(&info[0], PMIX_SERVER_URI, conn->uri, PMIX_STRING);
    }
    if (iof_out) {
        /* Write forwarded output as soon as it arrives, even output that
         * comes before PMIx_Spawn has told the library the job is ours
         * (without this, early output of a fast job can be dropped). */
        PMIX_INFO_LOAD(&info[n], PMIX_IOF_LOCAL_OUTPUT, &yes, PMIX_BOOL);
        n++;
    }
    rc = PMIx_tool_init(me, info, n);
    for (size_t i = 0; i < n; i++) {
        PMIX_INFO_DESTRUCT(&info[i]);
    }
    if (rc != PMIX_SUCCESS) {
        pt_err("cannot connect to the DVM (%s); is 'prte --daemonize' running?",
               PMIx_Error_string(rc));
    }
    return rc;
}

void pt_latch_init(struct pt_latch *latch)
{
    pthread_mutex_init(&latch->mutex, NULL);
    pthread_cond_init(&latch->cond, NULL);
    latch->released = false;
    latch->status = PMIX_SUCCESS;
}

void pt_latch_release(struct pt_latch *latch, pmix_status_t status)
{
    pthread_mutex_lock(&latch->mutex);
    if (!latch->released) {
        latch->released = true;
        latch->status = status;
    }
    pthread_cond_broadcast(&latch->cond);
    pthread_mutex_unlock(&latch->mutex);
}

bool pt_latch_wait(struct pt_latch *latch, int timeout_s)
{
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&latch->mutex);
    while (!latch->released && rc != ETIMEDOUT) {
        if (timeout_s > 0) {
            rc = pthread_cond_timedwait(&latch->cond, &latch->mutex, &deadline);
        } else {
            pthread_cond_wait(&latch->cond, &latch->mutex);
        }
    }
    bool released = latch->released;
    pthread_mutex_unlock(&latch->mutex);
    return released;
}

void pt_latch_destroy(struct pt_latch *latch)
{
    pthread_cond_destroy(&latch->cond);
    pthread_mutex_destroy(&latch->mutex);
}

void pt_op_done(pmix_status_t status, void *cbdata)
{
    pt_latch_release((struct pt_latch *)cbdata, status);
}

void pt_reg_done(pmix_status_t status, size_t ref, void *cbdata)
{
    (void)ref;
    pt_latch_release((struct pt_latch *)cbdata, status);
}

void pt_setup_env(void)
{
    char exe[4096];
    char share[4160];
    ssize_t len;
    char *slash;
    struct stat st;

    if (getenv("PMIX_PREFIX") != NULL) {
        return;
    }
    len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0) {
        return;
    }
    exe[len] = '\0';
    /* <prefix>/bin/<tool> -> <prefix> */
    for (int i = 0; i < 2; i++) {
        slash = strrchr(exe, '/');
        if (slash == NULL) {
            return;
        }
        *slash = '\0';
    }
    snprintf(share, sizeof(share), "%s/share/pmix", exe);
    if (stat(share, &st) == 0 && S_ISDIR(st.st_mode)) {
        setenv("PMIX_PREFIX", exe, 0);
    }
}
