/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo module. For each launch that needs new daemons:
 *   1. write the hosts, in daemon vpid order, to a private temp file;
 *   2. build the prted command line with PRRTE's base helpers (ess k8sgo,
 *      and the first new vpid in the ess_base_vpid slot);
 *   3. fork/exec SCRIPT [-q] [ARGS] -f HOSTFILE -- PRTED ARGV... and watch it.
 * The launcher stays up while its daemons run. If it ends before PRRTE
 * ordered the daemons down, whatever its status, the launch has failed: we
 * say which hosts had not called back and fail the daemon job, so the run
 * ends instead of waiting for daemons that will never come. On teardown the
 * launcher is signalled, and its hostfile is removed.
 */

#include "prte_config.h"
#include "constants.h"
#include "types.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/mca/errmgr/errmgr.h"
#include "src/mca/prteinstalldirs/prteinstalldirs.h"
#include "src/mca/rmaps/base/base.h"
#include "src/mca/state/state.h"
#include "src/runtime/prte_globals.h"
#include "src/runtime/prte_wait.h"
#include "src/util/name_fns.h"
#include "src/util/pmix_argv.h"
#include "src/util/pmix_environ.h"
#include "src/util/pmix_output.h"
#include "src/util/pmix_path.h"
#include "src/util/pmix_printf.h"
#include "src/util/pmix_show_help.h"

#include "plm_k8sgo.h"
#include "src/mca/plm/base/base.h"
#include "src/mca/plm/base/plm_private.h"
#include "src/mca/plm/plm.h"

static int k8sgo_init(void);
static int k8sgo_spawn(prte_job_t *jdata);
static int k8sgo_terminate_prteds(void);
static int k8sgo_finalize(void);

prte_plm_base_module_t prte_plm_k8sgo_module = {
    .init = k8sgo_init,
    .set_hnp_name = prte_plm_base_set_hnp_name,
    .spawn = k8sgo_spawn,
    .terminate_job = prte_plm_base_prted_terminate_job,
    .terminate_orteds = k8sgo_terminate_prteds,
    .terminate_procs = prte_plm_base_prted_kill_local_procs,
    .signal_job = prte_plm_base_prted_signal_local_procs,
    .finalize = k8sgo_finalize,
};

/* One launcher process: the daemons [first, first + count) are its own. */
typedef struct {
    pid_t pid; /* 0 once it has been reaped */
    char *hostfile;
    pmix_rank_t first;
    pmix_rank_t count;
} k8sgo_launch_t;

static k8sgo_launch_t *launches = NULL;
static int num_launches = 0;
/* exit status of the first launcher that failed while PRRTE was aborting */
static int launch_failure = 0;

/* how long teardown waits for a launcher to end by itself (its daemons were
 * told to exit), then after SIGTERM (it ends its daemons), before SIGKILL */
#define K8SGO_ORDERLY_EXIT_MS   3000
#define K8SGO_TEARDOWN_GRACE_MS 10000

static void launch_daemons(int fd, short args, void *cbdata);

static int k8sgo_init(void)
{
    int rc;

    if (PRTE_SUCCESS != (rc = prte_plm_base_comm_start())) {
        PRTE_ERROR_LOG(rc);
        return rc;
    }
    /* the hostfile fixes which daemon runs where, so the HNP knows each
     * daemon's node before it calls back (as plm/ssh does) */
    prte_plm_globals.daemon_nodes_assigned_at_launch = true;

    if (PRTE_SUCCESS != (rc = prte_state.add_job_state(PRTE_JOB_STATE_LAUNCH_DAEMONS,
                                                        launch_daemons))) {
        PRTE_ERROR_LOG(rc);
    }
    return rc;
}

static int k8sgo_spawn(prte_job_t *jdata)
{
    if (PRTE_FLAG_TEST(jdata, PRTE_JOB_FLAG_RESTART)) {
        PRTE_ACTIVATE_JOB_STATE(jdata, PRTE_JOB_STATE_MAP);
    } else {
        PRTE_ACTIVATE_JOB_STATE(jdata, PRTE_JOB_STATE_INIT);
    }
    return PRTE_SUCCESS;
}

/* ---- the hostfile ------------------------------------------------------ */

/* Write the hosts of daemons [first, first + count) in vpid order, so line i
 * is the host of daemon first + i. Returns the file's path, or NULL. */
static char *write_hostfile(prte_job_t *daemons, pmix_rank_t first, pmix_rank_t count)
{
    const char *tmpdir = getenv("TMPDIR");
    char *path = NULL;
    FILE *fp;
    pmix_rank_t v;
    int fd;

    if (NULL == tmpdir || '\0' == tmpdir[0]) {
        tmpdir = "/tmp";
    }
    pmix_asprintf(&path, "%s/prte-k8sgo-hosts.XXXXXX", tmpdir);
    /* mkstemp makes it 0600: the host list is the job's own business */
    if (NULL == path || 0 > (fd = mkstemp(path))) {
        pmix_show_help("help-plm-k8sgo.txt", "hostfile-failed", true,
                       NULL == path ? tmpdir : path, strerror(errno));
        free(path);
        return NULL;
    }
    if (NULL == (fp = fdopen(fd, "w"))) {
        pmix_show_help("help-plm-k8sgo.txt", "hostfile-failed", true, path, strerror(errno));
        close(fd);
        unlink(path);
        free(path);
        return NULL;
    }
    for (v = first; v < first + count; v++) {
        prte_proc_t *d = (prte_proc_t *) pmix_pointer_array_get_item(daemons->procs, v);
        if (NULL == d || NULL == d->node || NULL == d->node->name) {
            pmix_show_help("help-plm-k8sgo.txt", "no-node-for-daemon", true,
                           PRTE_VPID_PRINT(v));
            fclose(fp);
            unlink(path);
            free(path);
            return NULL;
        }
        fprintf(fp, "%s\n", d->node->name);
    }
    if (0 != fclose(fp)) {
        pmix_show_help("help-plm-k8sgo.txt", "hostfile-failed", true, path, strerror(errno));
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

/* ---- the command line -------------------------------------------------- */

/* The install prefix the daemons come from: --prefix, else PRTE_PREFIX,
 * else NULL (our own install). PRRTE up to 3.0.9 keeps --prefix on each app
 * context (several different ones cannot be honoured by one launcher: that
 * is an error, -1); later 3.0.x keep it on the daemon job. */
static int find_prefix(prte_job_t *jdata, prte_job_t *daemons, char **prefix)
{
    char *p = NULL;
#if defined(PRTE_APP_PREFIX_DIR)
    prte_app_context_t *app;
    int n;

    PRTE_HIDE_UNUSED_PARAMS(daemons);
    *prefix = NULL;
    for (n = 0; n < jdata->apps->size; n++) {
        app = (prte_app_context_t *) pmix_pointer_array_get_item(jdata->apps, n);
        p = NULL;
        if (NULL == app || !prte_get_attribute(&app->attributes, PRTE_APP_PREFIX_DIR,
                                               (void **) &p, PMIX_STRING) || NULL == p) {
            continue;
        }
        if (NULL != *prefix && 0 != strcmp(*prefix, p)) {
            pmix_show_help("help-plm-k8sgo.txt", "multiple-prefixes", true, *prefix, p);
            free(p);
            free(*prefix);
            *prefix = NULL;
            return -1;
        }
        if (NULL == *prefix) {
            *prefix = p;
        } else {
            free(p);
        }
    }
#else
    PRTE_HIDE_UNUSED_PARAMS(jdata);
    *prefix = NULL;
    if (prte_get_attribute(&daemons->attributes, PRTE_JOB_PREFIX, (void **) &p, PMIX_STRING)) {
        *prefix = p;
    }
#endif
    if (NULL == *prefix && NULL != (p = getenv("PRTE_PREFIX")) && '\0' != p[0]) {
        *prefix = strdup(p);
    }
    return 0;
}

/* PRRTE 3.0.10+ also tell daemons where OpenPMIx is (--pmix-prefix). */
static char *find_pmix_prefix(prte_job_t *daemons)
{
    char *p = NULL;
#if defined(PRTE_JOB_PMIX_PREFIX)
    if (prte_get_attribute(&daemons->attributes, PRTE_JOB_PMIX_PREFIX, (void **) &p,
                           PMIX_STRING)) {
        return p;
    }
#else
    PRTE_HIDE_UNUSED_PARAMS(daemons);
#endif
    if (NULL != (p = getenv("PMIX_PREFIX")) && '\0' != p[0]) {
        return strdup(p);
    }
    return NULL;
}

/* Append the prted command and its arguments. The launcher runs them as
 * they are, in pods whose environment is the pod's own, so:
 *  - "prted" becomes an absolute path: PREFIX/bin/prted, or the prted
 *    installed beside this very PRRTE;
 *  - PRTE_PREFIX is set through env(1), as plm/ssh sets it in its remote
 *    shell: a pod may carry another PRRTE's PRTE_PREFIX, and prted takes its
 *    help files and install paths from it;
 *  - --leave-session-attached keeps prted from detaching into the
 *    background with its output closed: the launcher watches the daemon
 *    itself, and a daemon that cannot start (ess/k8sgo's id checks) must be
 *    able to say why on its stderr. */
static int append_prted(int *argc, char ***argv, const char *prefix, const char *pmix_prefix,
                        pmix_rank_t first)
{
    char *vpid = NULL, *setting = NULL;
    int start, vpid_slot, loc, rc;

    pmix_asprintf(&setting, "PRTE_PREFIX=%s", NULL != prefix ? prefix : prte_install_dirs.prefix);
    pmix_argv_append(argc, argv, "/usr/bin/env");
    pmix_argv_append(argc, argv, setting);
    free(setting);
    if (NULL != pmix_prefix) {
        pmix_asprintf(&setting, "PMIX_PREFIX=%s", pmix_prefix);
        pmix_argv_append(argc, argv, setting);
        free(setting);
    }

    start = *argc;
    loc = prte_plm_base_setup_prted_cmd(argc, argv);
    if (0 == strcmp((*argv)[start + loc], "prted")) {
        free((*argv)[start + loc]);
        if (NULL != prefix) {
            pmix_asprintf(&(*argv)[start + loc], "%s/bin/prted", prefix);
        } else {
            pmix_asprintf(&(*argv)[start + loc], "%s/prted", prte_install_dirs.bindir);
        }
    }
    prte_plm_base_prted_append_basic_args(argc, argv, "k8sgo", &vpid_slot);
    if (!prte_leave_session_attached) { /* else the base helper added it */
        pmix_argv_append(argc, argv, "--leave-session-attached");
    }
    /* each daemon adds its PRTE_ESS_K8SGO_ID to this base */
    if (PRTE_SUCCESS != (rc = prte_util_convert_vpid_to_string(&vpid, first))) {
        PRTE_ERROR_LOG(rc);
        return rc;
    }
    free((*argv)[vpid_slot]);
    (*argv)[vpid_slot] = vpid;
    return PRTE_SUCCESS;
}

/* SCRIPT [-q] [ARGS] -f HOSTFILE -- */
static void append_launcher(int *argc, char ***argv, const char *script, const char *hostfile)
{
    char **extra;
    int i;

    pmix_argv_append(argc, argv, script);
    if (prte_mca_plm_k8sgo_component.launch_quiet) {
        pmix_argv_append(argc, argv, "-q");
    }
    if (NULL != prte_mca_plm_k8sgo_component.launch_args) {
        extra = PMIX_ARGV_SPLIT_COMPAT(prte_mca_plm_k8sgo_component.launch_args, ' ');
        for (i = 0; NULL != extra && NULL != extra[i]; i++) {
            if ('\0' != extra[i][0]) {
                pmix_argv_append(argc, argv, extra[i]);
            }
        }
        PMIX_ARGV_FREE_COMPAT(extra);
    }
    pmix_argv_append(argc, argv, "-f");
    pmix_argv_append(argc, argv, hostfile);
    pmix_argv_append(argc, argv, "--");
}

/* ---- watching the launcher --------------------------------------------- */

static k8sgo_launch_t *launch_of(pid_t pid)
{
    int i;

    for (i = 0; i < num_launches; i++) {
        if (launches[i].pid == pid) {
            return &launches[i];
        }
    }
    return NULL;
}

static void forget_launch(k8sgo_launch_t *l)
{
    l->pid = 0;
    if (NULL != l->hostfile) {
        unlink(l->hostfile);
        free(l->hostfile);
        l->hostfile = NULL;
    }
}

/* Hosts of this launch's daemons that never called back, comma-separated;
 * all of its hosts when every daemon had (the launcher died under them). */
static char *hosts_of(prte_job_t *daemons, const k8sgo_launch_t *l, bool only_missing)
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

static void launcher_exited(int sd, short flags, void *cbdata)
{
    prte_wait_tracker_t *t2 = (prte_wait_tracker_t *) cbdata;
    prte_proc_t *child = t2->child;
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);
    k8sgo_launch_t *l = launch_of(child->pid);
    char *how = NULL, *missing, *hosts;
    int status = child->exit_code, code;
    pmix_rank_t v;
    PRTE_HIDE_UNUSED_PARAMS(sd, flags);

    if (NULL == l) {
        PMIX_RELEASE(t2);
        return;
    }
    /* an ordered teardown: the launcher ending is what we asked for; but if
     * PRRTE is aborting and the launcher failed, remember it for the exit
     * status (PRRTE 3.0 leaves it 0 when it aborts on a lost daemon) */
    if (prte_prteds_term_ordered || prte_abnormal_term_ordered || prte_finalizing) {
        if (prte_abnormal_term_ordered && 0 == launch_failure) {
            launch_failure = exit_code_of(status);
        }
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
            d->exit_code = status;
        }
    }
    PRTE_UPDATE_EXIT_STATUS(code);
    /* the DVM's error handler ends the daemon job, and with it the run */
    PRTE_ACTIVATE_JOB_STATE(daemons, PRTE_JOB_STATE_FAILED_TO_START);
    PMIX_RELEASE(t2);
}

/* Fork/exec the launcher; on success the launch is recorded and watched. */
static int start_launcher(char **argv, const char *path, char *hostfile, pmix_rank_t first,
                          pmix_rank_t count)
{
    k8sgo_launch_t *grown;
    prte_proc_t *dummy;
    pid_t pid;
    int fd;

    grown = realloc(launches, (num_launches + 1) * sizeof(*launches));
    if (NULL == grown) {
        return PRTE_ERR_OUT_OF_RESOURCE;
    }
    launches = grown;

    pid = fork();
    if (0 > pid) {
        PRTE_ERROR_LOG(PRTE_ERR_SYS_LIMITS_CHILDREN);
        return PRTE_ERR_SYS_LIMITS_CHILDREN;
    }
    if (0 == pid) {
        /* the launcher reads no input; its output and its daemons' reach the user */
        if (0 <= (fd = open("/dev/null", O_RDONLY))) {
            dup2(fd, 0);
            if (fd > 0) {
                close(fd);
            }
        }
        /* its own process group: a ^C at the terminal reaches prterun, which
         * then tears the launcher down in order, instead of killing it first */
        setpgid(0, 0);
        /* tool-connection settings of ours are not the daemons' business */
        unsetenv("PMIX_LAUNCHER_PAUSE_FOR_TOOL");
        unsetenv("PMIX_LAUNCHER_RENDEZVOUS_FILE");
        execv(path, argv);
        fprintf(stderr, "plm:k8sgo: cannot execute %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);

    launches[num_launches].pid = pid;
    launches[num_launches].hostfile = hostfile;
    launches[num_launches].first = first;
    launches[num_launches].count = count;
    num_launches++;

    dummy = PMIX_NEW(prte_proc_t);
    dummy->pid = pid;
    PRTE_FLAG_SET(dummy, PRTE_PROC_FLAG_ALIVE);
    prte_wait_cb(dummy, launcher_exited, NULL);
    PMIX_RELEASE(dummy); /* prte_wait_cb keeps its own reference */
    return PRTE_SUCCESS;
}

/* ---- the launch state -------------------------------------------------- */

static void launch_daemons(int fd, short args, void *cbdata)
{
    prte_state_caddy_t *state = (prte_state_caddy_t *) cbdata;
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);
    const char *script = prte_mca_plm_k8sgo_component.launch_script;
    char **argv = NULL, *path = NULL, *hostfile = NULL, *prefix = NULL, *pmix_prefix = NULL;
    char *line;
    prte_job_map_t *map;
    pmix_rank_t first, count;
    int argc = 0, rc;
    bool failed = true;
    PRTE_HIDE_UNUSED_PARAMS(fd, args);

    PMIX_ACQUIRE_OBJECT(state);

    if (PRTE_SUCCESS != (rc = prte_plm_base_setup_virtual_machine(state->jdata))) {
        PRTE_ERROR_LOG(rc);
        goto done;
    }
    map = daemons->map;
    /* nothing to start: mapping only (--do-not-launch), or every node of
     * this job already has its daemon (a DVM's second job) */
    if (prte_get_attribute(&daemons->attributes, PRTE_JOB_DO_NOT_LAUNCH, NULL, PMIX_BOOL)
        || (NULL != map && 0 == map->num_new_daemons)) {
        state->jdata->state = PRTE_JOB_STATE_DAEMONS_LAUNCHED;
        PRTE_ACTIVATE_JOB_STATE(state->jdata, PRTE_JOB_STATE_DAEMONS_REPORTED);
        PMIX_RELEASE(state);
        return;
    }
    if (NULL == map) {
        PRTE_ERROR_LOG(PRTE_ERR_NOT_FOUND);
        goto done;
    }
    first = map->daemon_vpid_start;
    count = map->num_new_daemons;

    if (NULL == script || '\0' == script[0]) {
        script = PRTE_PLM_K8SGO_DEFAULT_SCRIPT;
        prte_mca_plm_k8sgo_component.launch_script = strdup(script);
    }
    if (NULL == (path = pmix_path_findv((char *) script, X_OK, environ, NULL))) {
        pmix_show_help("help-plm-k8sgo.txt", "no-launcher", true, script);
        goto done;
    }
    if (0 != find_prefix(state->jdata, daemons, &prefix)) {
        goto done;
    }
    if (NULL == (hostfile = write_hostfile(daemons, first, count))) {
        goto done;
    }

    append_launcher(&argc, &argv, path, hostfile);
    pmix_prefix = find_pmix_prefix(daemons);
    if (PRTE_SUCCESS != (rc = append_prted(&argc, &argv, prefix, pmix_prefix, first))) {
        goto done;
    }
    /* values go through the launcher and a remote shell: quote them as
     * plm/ssh does (prted strips the quotes again) */
    prte_plm_base_wrap_args(argv);

    if (0 < pmix_output_get_verbosity(prte_plm_base_framework.framework_output)) {
        line = PMIX_ARGV_JOIN_COMPAT(argv, ' ');
        pmix_output(prte_plm_base_framework.framework_output,
                    "%s plm:k8sgo: %lu daemon(s) from vpid %lu: %s",
                    PRTE_NAME_PRINT(PRTE_PROC_MY_NAME), (unsigned long) count,
                    (unsigned long) first, line);
        free(line);
    }

    if (PRTE_SUCCESS != (rc = start_launcher(argv, path, hostfile, first, count))) {
        goto done;
    }
    hostfile = NULL; /* the launch record owns it now */
    state->jdata->state = PRTE_JOB_STATE_DAEMONS_LAUNCHED;
    daemons->state = PRTE_JOB_STATE_DAEMONS_LAUNCHED;
    failed = false;

done:
    if (NULL != hostfile) {
        unlink(hostfile);
        free(hostfile);
    }
    PMIX_ARGV_FREE_COMPAT(argv);
    free(path);
    free(prefix);
    free(pmix_prefix);
    if (failed) {
        PRTE_UPDATE_EXIT_STATUS(PRTE_ERROR_DEFAULT_EXIT_CODE);
        PRTE_ACTIVATE_JOB_STATE(state->jdata, PRTE_JOB_STATE_FAILED_TO_LAUNCH);
    }
    PMIX_RELEASE(state);
}

/* ---- teardown ---------------------------------------------------------- */

static int k8sgo_terminate_prteds(void)
{
    prte_job_t *daemons;
    int rc;

    if (0 < num_launches) {
        /* the daemons exit on command; their launcher then ends by itself */
        if (PRTE_SUCCESS != (rc = prte_plm_base_prted_exit(PRTE_DAEMON_EXIT_CMD))) {
            PRTE_ERROR_LOG(rc);
        }
        return rc;
    }
    /* no daemon was ever launched: nobody will report terminating */
    daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);
    daemons->num_terminated = daemons->num_procs;
    PRTE_ACTIVATE_JOB_STATE(daemons, PRTE_JOB_STATE_DAEMONS_TERMINATED);
    return PRTE_SUCCESS;
}

/* Has launcher l ended? Reaps it if so (PRRTE's own SIGCHLD handling may
 * have done that already: then waitpid says ECHILD). */
static bool launcher_gone(k8sgo_launch_t *l)
{
    int status;
    pid_t r = waitpid(l->pid, &status, WNOHANG);

    if (r == l->pid && prte_abnormal_term_ordered && 0 == launch_failure) {
        launch_failure = exit_code_of(status);
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
            /* its process group: the launcher and whatever it started */
            kill(-launches[i].pid, sig);
        }
    }
}

static void end_launchers(void)
{
    bool running = false;
    int i;

    for (i = 0; i < num_launches; i++) {
        running = running || 0 < launches[i].pid;
    }

    /* after an orderly end the daemons are exiting, and their launcher with
     * them: give it a moment before signalling it (it would report ending
     * daemons that were leaving anyway) */
    if (prte_abnormal_term_ordered || !wait_launchers(K8SGO_ORDERLY_EXIT_MS)) {
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
    /* aborting with daemons still under a launcher, or after one failed:
     * the run failed, whatever status PRRTE had recorded */
    if (prte_abnormal_term_ordered && (running || 0 != launch_failure)) {
        PRTE_UPDATE_EXIT_STATUS(0 != launch_failure ? launch_failure
                                                    : PRTE_ERROR_DEFAULT_EXIT_CODE);
    }
    for (i = 0; i < num_launches; i++) {
        forget_launch(&launches[i]);
    }
    free(launches);
    launches = NULL;
    num_launches = 0;
}

static int k8sgo_finalize(void)
{
    int rc;

    if (PRTE_SUCCESS != (rc = prte_plm_base_comm_stop())) {
        PRTE_ERROR_LOG(rc);
    }
    end_launchers();
    return PRTE_SUCCESS;
}
