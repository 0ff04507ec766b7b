/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo: the launcher processes. Started as plm/ssh starts its agents
 * (descriptors closed, signal dispositions and mask reset, an environment
 * made before the fork), watched while the daemons run, ended on teardown.
 *
 * Each launcher gets two descriptors of its own: its host list (an unlinked
 * file, so prterun leaves nothing in $TMPDIR whatever ends it) and its
 * lifeline, a pipe whose write end only prterun holds. Closing the lifeline
 * tells the launcher that the daemons are being ended on purpose; if
 * prterun dies without finalizing (SIGKILL, the third ^C), the kernel
 * closes it, and the launcher ends the daemons by itself.
 */

#include "prte_config.h"
#include "constants.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/mca/errmgr/errmgr.h"
#include "src/mca/state/state.h"
#include "src/runtime/prte_globals.h"
#include "src/runtime/prte_wait.h"
#include "src/util/name_fns.h"
#include "src/util/pmix_argv.h"
#include "src/util/pmix_output.h"
#include "src/util/pmix_printf.h"
#include "src/util/pmix_show_help.h"

#include "plm_k8sgo.h"
#include "src/mca/plm/base/base.h"

static prte_plm_k8sgo_launch_t *launches = NULL;
static int num_launches = 0;
/* exit status of the first launcher that failed on its own (before we
 * signalled it) while PRRTE was aborting */
static int launch_failure = 0;

/* how long teardown waits for a launcher to end by itself (its daemons were
 * told to exit, and its lifeline closed), then after SIGTERM (it ends its
 * daemons), before SIGKILL */
#define K8SGO_ORDERLY_EXIT_MS   3000
#define K8SGO_TEARDOWN_GRACE_MS 10000

int prte_plm_k8sgo_num_launches(void)
{
    return num_launches;
}

prte_plm_k8sgo_launch_t *prte_plm_k8sgo_launch(int i)
{
    return &launches[i];
}

static prte_plm_k8sgo_launch_t *launch_of(pid_t pid)
{
    int i;

    for (i = 0; i < num_launches; i++) {
        if (launches[i].pid == pid) {
            return &launches[i];
        }
    }
    return NULL;
}

static void close_lifeline(prte_plm_k8sgo_launch_t *l)
{
    if (0 <= l->lifeline) {
        close(l->lifeline);
        l->lifeline = -1;
    }
}

static void forget_launch(prte_plm_k8sgo_launch_t *l)
{
    l->pid = 0;
    close_lifeline(l);
}

void prte_plm_k8sgo_close_lifelines(void)
{
    int i;

    for (i = 0; i < num_launches; i++) {
        close_lifeline(&launches[i]);
    }
}

/* Hosts of this launch's daemons that never called back, comma-separated;
 * all of its hosts when every daemon had (the launcher died under them). */
static char *hosts_of(prte_job_t *daemons, const prte_plm_k8sgo_launch_t *l, bool only_missing)
{
    char **names = NULL, *joined;
    pmix_rank_t v;

    for (v = l->first; v < l->first + l->count; v++) {
        prte_proc_t *d = (prte_proc_t *) pmix_pointer_array_get_item(daemons->procs, v);
        if (NULL == d || NULL == d->node) {
            continue;
        }
        if (!only_missing || d->state < PRTE_PROC_STATE_RUNNING) {
            PMIX_ARGV_APPEND_NOSIZE_COMPAT(&names, d->node->name);
        }
    }
    if (NULL == names) {
        return NULL;
    }
    joined = PMIX_ARGV_JOIN_COMPAT(names, ',');
    PMIX_ARGV_FREE_COMPAT(names);
    return joined;
}

/* The exit status prterun should give for a launcher's wait status: 0 when
 * it exited 0, else its status, or 128 + the signal that killed it. */
static int exit_code_of(int status)
{
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : PRTE_ERROR_DEFAULT_EXIT_CODE;
}

/* A launcher that ended while PRRTE was ending things: its status counts
 * only if it ended by itself with a failure. Once we have signalled it, how
 * it ended is our doing (a launcher still closing its streams when SIGTERM
 * came exits 143), and the cause PRRTE recorded (a lost daemon) stands. */
static void note_ending(const prte_plm_k8sgo_launch_t *l, int status)
{
    if (prte_abnormal_term_ordered && !l->signalled && 0 == launch_failure) {
        launch_failure = exit_code_of(status);
    }
}

static void launcher_exited(int sd, short flags, void *cbdata)
{
    prte_wait_tracker_t *t2 = (prte_wait_tracker_t *) cbdata;
    prte_proc_t *child = t2->child;
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);
    prte_plm_k8sgo_launch_t *l = launch_of(child->pid);
    char *how = NULL, *missing, *hosts;
    int status = child->exit_code, code;
    pmix_rank_t v;
    PRTE_HIDE_UNUSED_PARAMS(sd, flags);

    if (NULL == l) {
        PMIX_RELEASE(t2);
        return;
    }
    /* an ordered teardown, or a detach that went through: the launcher ending
     * is what we asked for */
    if (prte_prteds_term_ordered || prte_abnormal_term_ordered || prte_finalizing
        || (l->detaching && WIFEXITED(status) && 0 == WEXITSTATUS(status))) {
        /* ... unless a signal we did not send killed it: the daemons it held went
         * with it (the runtime ends a dropped exec's process), and PRRTE may have
         * seen one of them lost first; the user must still learn why */
        if (WIFSIGNALED(status) && !l->signalled && !prte_finalizing) {
            hosts = hosts_of(daemons, l, false);
            pmix_asprintf(&how, "was killed by signal %d", WTERMSIG(status));
            pmix_show_help("help-plm-k8sgo.txt", "launcher-failed-while-running", true,
                           prte_mca_plm_k8sgo_component.launch_script, how,
                           NULL == hosts ? "(none)" : hosts);
            free(how);
            free(hosts);
        }
        note_ending(l, status);
        forget_launch(l);
        PMIX_RELEASE(t2);
        return;
    }

    code = exit_code_of(status);
    if (WIFSIGNALED(status)) {
        pmix_asprintf(&how, "was killed by signal %d", WTERMSIG(status));
    } else if (0 != code) {
        pmix_asprintf(&how, "exited with status %d", code);
    } else {
        pmix_asprintf(&how, "exited (status 0) while its daemons should still run");
        code = PRTE_ERROR_DEFAULT_EXIT_CODE;
    }
    missing = hosts_of(daemons, l, true);
    hosts = hosts_of(daemons, l, false);
    if (NULL != missing) {
        pmix_show_help("help-plm-k8sgo.txt", "launcher-failed-at-launch", true,
                       prte_mca_plm_k8sgo_component.launch_script, how, missing);
    } else {
        pmix_show_help("help-plm-k8sgo.txt", "launcher-failed-while-running", true,
                       prte_mca_plm_k8sgo_component.launch_script, how,
                       NULL == hosts ? "(none)" : hosts);
    }
    free(how);
    free(missing);
    free(hosts);
    forget_launch(l);

    /* the daemons that never called back never will */
    for (v = l->first; v < l->first + l->count; v++) {
        prte_proc_t *d = (prte_proc_t *) pmix_pointer_array_get_item(daemons->procs, v);
        if (NULL != d && d->state < PRTE_PROC_STATE_RUNNING) {
            d->state = PRTE_PROC_STATE_FAILED_TO_START;
            d->exit_code = code;
        }
    }
    PRTE_UPDATE_EXIT_STATUS(code);
    /* the DVM's error handler ends the daemon job, and with it the run */
    PRTE_ACTIVATE_JOB_STATE(daemons, PRTE_JOB_STATE_FAILED_TO_START);
    PMIX_RELEASE(t2);
}

/* ---- starting one -------------------------------------------------------- */

/* The highest descriptor the child may have to close, known before fork. */
static int max_fd(void)
{
    struct rlimit rl;

    if (0 == getrlimit(RLIMIT_NOFILE, &rl) && RLIM_INFINITY != rl.rlim_cur
        && rl.rlim_cur < (rlim_t) 1 << 20) {
        return (int) rl.rlim_cur;
    }
    return 1 << 16;
}

/* Only async-signal-safe calls between fork and exec: prterun has threads,
 * and whatever lock one of them held at the fork stays held in the child. */
static void exec_child(char **argv, char **env, const char *path, int devnull, int hostfile,
                       int lifeline, int fd_limit, const char *failed, size_t failed_len)
                       __prte_attribute_noreturn__;

static void exec_child(char **argv, char **env, const char *path, int devnull, int hostfile,
                       int lifeline, int fd_limit, const char *failed, size_t failed_len)
{
    static const int defaulted[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD,
                                    SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN};
    struct sigaction sa;
    sigset_t none;
    size_t i;
    int fd;

    /* the launcher reads no input; its output and its daemons' reach the user */
    dup2(devnull, 0);
    /* hostfile and lifeline are above the fixed numbers (see start), so
     * these never overwrite one another */
    dup2(hostfile, PRTE_PLM_K8SGO_HOSTFILE_FD);
    dup2(lifeline, PRTE_PLM_K8SGO_LIFELINE_FD);
    /* nothing else of prterun's: sockets, the PMIx server, other launchers'
     * lifelines (which would keep them alive after prterun died) */
#if defined(SYS_close_range)
    if (0 != syscall(SYS_close_range, PRTE_PLM_K8SGO_LIFELINE_FD + 1, ~0U, 0))
#endif
    {
        for (fd = PRTE_PLM_K8SGO_LIFELINE_FD + 1; fd < fd_limit; fd++) {
            close(fd);
        }
    }
    /* its own process group: a ^C at the terminal reaches prterun, which
     * then tears the launcher down in order, instead of killing it first */
    setpgid(0, 0);
    /* handlers are reset by exec, but an ignored signal stays ignored and a
     * blocked one blocked (libevent blocks some): hand over PRRTE's choices */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(defaulted) / sizeof(defaulted[0]); i++) {
        sigaction(defaulted[i], &sa, NULL);
    }
    /* being its own process group, the launcher is a background job at
     * prterun's terminal: under `stty tostop` its first write there would
     * stop it with SIGTTOU, its heartbeats with it, and every daemon would
     * be ended by its guard. Ignored, the write goes through (POSIX). */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTTOU, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    execve(path, argv, env);
    if (0 > write(2, failed, failed_len)) {
        /* nothing left to tell */
    }
    _exit(127);
}

int prte_plm_k8sgo_start(char **argv, char **env, const char *path, int hostfile_fd,
                         pmix_rank_t first, pmix_rank_t count, char **hosts)
{
    prte_plm_k8sgo_launch_t *grown;
    prte_proc_t *dummy;
    char *failed = NULL;
    int pipefd[2], devnull, hostfile, lifeline, limit;
    pid_t pid;

    grown = realloc(launches, (num_launches + 1) * sizeof(*launches));
    if (NULL == grown) {
        return PRTE_ERR_OUT_OF_RESOURCE;
    }
    launches = grown;

    /* everything the child needs is made here, before fork; each of our
     * copies is close-on-exec, so no other child of prterun inherits one */
    if (0 != pipe2(pipefd, O_CLOEXEC)) {
        pmix_show_help("help-plm-k8sgo.txt", "start-failed", true, path, "pipe", strerror(errno));
        return PRTE_ERR_SILENT;
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* above the launcher's fixed numbers, so the child's dup2s cannot clash */
    hostfile = fcntl(hostfile_fd, F_DUPFD_CLOEXEC, PRTE_PLM_K8SGO_LIFELINE_FD + 1);
    lifeline = fcntl(pipefd[0], F_DUPFD_CLOEXEC, PRTE_PLM_K8SGO_LIFELINE_FD + 1);
    close(pipefd[0]);
    if (0 > devnull || 0 > hostfile || 0 > lifeline) {
        pmix_show_help("help-plm-k8sgo.txt", "start-failed", true, path, "open", strerror(errno));
        goto fail;
    }
    pmix_asprintf(&failed, "plm:k8sgo: cannot execute %s\n", path);
    limit = max_fd();

    pid = fork();
    if (0 > pid) {
        pmix_show_help("help-plm-k8sgo.txt", "start-failed", true, path, "fork", strerror(errno));
        goto fail;
    }
    if (0 == pid) {
        exec_child(argv, env, path, devnull, hostfile, lifeline, limit, failed, strlen(failed));
    }
    setpgid(pid, pid);
    free(failed);
    close(devnull);
    close(hostfile);
    close(lifeline);

    launches[num_launches].pid = pid;
    launches[num_launches].lifeline = pipefd[1];
    launches[num_launches].signalled = false;
    launches[num_launches].placed = false;
    launches[num_launches].detaching = false;
    launches[num_launches].first = first;
    launches[num_launches].count = count;
    launches[num_launches].hosts = hosts;
    num_launches++;

    dummy = PMIX_NEW(prte_proc_t);
    dummy->pid = pid;
    PRTE_FLAG_SET(dummy, PRTE_PROC_FLAG_ALIVE);
    prte_wait_cb(dummy, launcher_exited, NULL);
    PMIX_RELEASE(dummy); /* prte_wait_cb keeps its own reference */
    return PRTE_SUCCESS;

fail:
    free(failed);
    if (0 <= devnull) {
        close(devnull);
    }
    if (0 <= hostfile) {
        close(hostfile);
    }
    if (0 <= lifeline) {
        close(lifeline);
    }
    close(pipefd[1]);
    return PRTE_ERR_SILENT;
}

void prte_plm_k8sgo_detach_launchers(void)
{
    int i;

    for (i = 0; i < num_launches; i++) {
        if (0 < launches[i].pid && !launches[i].detaching) {
            launches[i].detaching = true;
            /* the launcher alone, not its group: it ends its sessions itself */
            kill(launches[i].pid, PRTE_PLM_K8SGO_DETACH_SIGNAL);
        }
    }
}

/* ---- teardown ------------------------------------------------------------ */

/* Has launcher l ended? Reaps it if so (PRRTE's own SIGCHLD handling may
 * have done that already: then waitpid says ECHILD). */
static bool launcher_gone(prte_plm_k8sgo_launch_t *l)
{
    int status;
    pid_t r = waitpid(l->pid, &status, WNOHANG);

    if (r == l->pid) {
        note_ending(l, status);
    }
    return r == l->pid || (0 > r && ECHILD == errno);
}

/* Reap the launchers that have ended; wait up to ms for the rest. True if
 * none is left. */
static bool wait_launchers(int ms)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    int i, waited = 0;
    bool left;

    for (;;) {
        left = false;
        for (i = 0; i < num_launches; i++) {
            if (0 < launches[i].pid) {
                if (launcher_gone(&launches[i])) {
                    forget_launch(&launches[i]);
                } else {
                    left = true;
                }
            }
        }
        if (!left || waited >= ms) {
            return !left;
        }
        nanosleep(&tick, NULL);
        waited += 20;
    }
}

static void signal_launchers(int sig)
{
    int i;

    for (i = 0; i < num_launches; i++) {
        if (0 < launches[i].pid) {
            launches[i].signalled = true;
            /* its process group: the launcher and whatever it started */
            kill(-launches[i].pid, sig);
        }
    }
}

/* Did PRRTE abort the daemon job (a daemon lost, failed to start)? PRRTE 3.0
 * leaves the exit status 0 when it aborts on a lost daemon. Not the daemons'
 * own states: at an ordered end (pterm's halt, itself "abnormal") every
 * daemon that leaves is recorded as a failed connection too. */
static bool daemon_job_aborted(void)
{
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);

    return NULL != daemons && PRTE_FLAG_TEST(daemons, PRTE_JOB_FLAG_ABORTED);
}

void prte_plm_k8sgo_end_launchers(void)
{
    bool failed = prte_abnormal_term_ordered && daemon_job_aborted();
    int i;

    /* the daemons were told to exit (or are gone), and the lifelines say
     * the end is ordered: each launcher then ends by itself once its
     * daemons have; that orderly wait is kept whatever ended the run, or a
     * launcher still closing its streams would be counted as failing */
    prte_plm_k8sgo_close_lifelines();
    if (!wait_launchers(K8SGO_ORDERLY_EXIT_MS)) {
        /* the launcher tears its remote daemons down on SIGTERM */
        signal_launchers(SIGTERM);
        if (!wait_launchers(K8SGO_TEARDOWN_GRACE_MS)) {
            signal_launchers(SIGKILL);
            for (i = 0; i < num_launches; i++) {
                if (0 < launches[i].pid) {
                    waitpid(launches[i].pid, NULL, 0);
                }
            }
        }
    }
    /* aborting after a launcher failed by itself, or a daemon did: the run
     * failed, whatever status PRRTE recorded */
    if (prte_abnormal_term_ordered && (0 != launch_failure || failed)) {
        PRTE_UPDATE_EXIT_STATUS(0 != launch_failure ? launch_failure
                                                    : PRTE_ERROR_DEFAULT_EXIT_CODE);
    }
    for (i = 0; i < num_launches; i++) {
        forget_launch(&launches[i]);
        PMIX_ARGV_FREE_COMPAT(launches[i].hosts);
    }
    free(launches);
    launches = NULL;
    num_launches = 0;
}
