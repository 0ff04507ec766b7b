/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo module. For each launch that needs new daemons:
 *   1. find exactly the daemons no launcher of ours has started, and check
 *      each (PRRTE 3.0's own count is not reset when a DVM grows);
 *   2. write their hosts, in vpid order, to an unlinked private file;
 *   3. build the prted command line with PRRTE's base helpers (ess k8sgo,
 *      and the first new vpid in the ess_base_vpid slot);
 *   4. fork/exec SCRIPT [-q] [ARGS] -f /dev/fd/3 -- PRTED ARGV... and watch it.
 * The launcher stays up while its daemons run. If it ends before PRRTE
 * ordered the daemons down, whatever its status, the launch has failed: we
 * say which hosts had not called back and fail the daemon job, so the run
 * ends instead of waiting for daemons that will never come. Once the
 * daemons have reported, each is checked to run on its own line's host.
 */

#include "prte_config.h"
#include "constants.h"
#include "types.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/mca/errmgr/errmgr.h"
#include "src/mca/rmaps/base/base.h"
#include "src/mca/state/state.h"
#include "src/runtime/prte_globals.h"
#include "src/runtime/prte_quit.h"
#include "src/util/attr.h"
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

/* The first daemon vpid no launcher of ours has started (0 is the HNP). */
static pmix_rank_t next_vpid = 1;

static void launch_daemons(int fd, short args, void *cbdata);
static void daemons_reported(int fd, short args, void *cbdata);
static void daemons_terminated(int fd, short args, void *cbdata);

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
        return rc;
    }
    /* the state machine was set up before us: check where the daemons
     * landed, then carry on as PRRTE does */
    if (PRTE_SUCCESS != (rc = prte_state.set_job_state_callback(PRTE_JOB_STATE_DAEMONS_REPORTED,
                                                                 daemons_reported))) {
        PRTE_ERROR_LOG(rc);
        return rc;
    }
    /* and see the run's end before PRRTE quits */
    if (PRTE_SUCCESS != (rc = prte_state.set_job_state_callback(PRTE_JOB_STATE_DAEMONS_TERMINATED,
                                                                 daemons_terminated))) {
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

/* ---- which daemons to start ---------------------------------------------- */

/* Daemons [first, end) must be new, each with a host of its own. Shows the
 * help text and returns false on the first that is not. */
static bool new_daemons_ok(prte_job_t *daemons, pmix_rank_t first, pmix_rank_t end,
                           int prrte_count)
{
    const char *why = NULL;
    pmix_rank_t v, bad = first;

    for (v = first; v < end && NULL == why; v++) {
        prte_proc_t *d = (prte_proc_t *) pmix_pointer_array_get_item(daemons->procs, v);
        bad = v;
        if (NULL == d) {
            why = "has no daemon object";
        } else if (NULL == d->node || NULL == d->node->name) {
            why = "has no host";
        } else if (d->node->daemon != d) {
            why = "is not the daemon its host names";
        } else if (PRTE_FLAG_TEST(d, PRTE_PROC_FLAG_ALIVE) || d->state >= PRTE_PROC_STATE_RUNNING
                   || PRTE_FLAG_TEST(d->node, PRTE_NODE_FLAG_DAEMON_LAUNCHED)) {
            why = "is already running";
        }
    }
    /* PRRTE counts at least the daemons it just added (more only when its
     * count was not reset, as on the grow path); fewer means one of us is wrong */
    if (NULL == why && prrte_count < (int) (end - first)) {
        bad = first;
        why = "is not one PRRTE asked for";
    }
    if (NULL == why) {
        return true;
    }
    pmix_show_help("help-plm-k8sgo.txt", "daemon-accounting", true, (unsigned long) bad, why,
                   (int) (end - first), (unsigned long) first, prrte_count);
    return false;
}

/* Hostfile line i's host: the node's name (PRRTE keeps a user@ apart). */
static char **host_lines(prte_job_t *daemons, pmix_rank_t first, pmix_rank_t end,
                         char ***users)
{
    char **hosts = NULL, *user;
    pmix_rank_t v;

    *users = NULL;
    for (v = first; v < end; v++) {
        prte_proc_t *d = (prte_proc_t *) pmix_pointer_array_get_item(daemons->procs, v);
        PMIX_ARGV_APPEND_NOSIZE_COMPAT(&hosts, d->node->name);
        user = NULL;
        if (prte_get_attribute(&d->node->attributes, PRTE_NODE_USERNAME, (void **) &user,
                               PMIX_STRING) && NULL != user) {
            char *line = NULL;
            pmix_asprintf(&line, "%s@%s", user, d->node->name);
            PMIX_ARGV_APPEND_NOSIZE_COMPAT(users, line);
            free(line);
            free(user);
        } else {
            PMIX_ARGV_APPEND_NOSIZE_COMPAT(users, d->node->name);
        }
    }
    return hosts;
}

/* The host list as an unlinked private file, read from the start: the
 * launcher gets the descriptor, and nothing is ever left in $TMPDIR. */
static int hostfile_fd(char **lines)
{
    const char *tmpdir = getenv("TMPDIR");
    char *path = NULL;
    FILE *fp;
    int fd, i;

    if (NULL == tmpdir || '\0' == tmpdir[0]) {
        tmpdir = "/tmp";
    }
    pmix_asprintf(&path, "%s/prte-k8sgo-hosts.XXXXXX", tmpdir);
    /* mkstemp makes it 0600: the host list is the job's own business */
    if (NULL == path || 0 > (fd = mkstemp(path))) {
        pmix_show_help("help-plm-k8sgo.txt", "hostfile-failed", true,
                       NULL == path ? tmpdir : path, strerror(errno));
        free(path);
        return -1;
    }
    unlink(path);
    if (NULL == (fp = fdopen(dup(fd), "w"))) {
        pmix_show_help("help-plm-k8sgo.txt", "hostfile-failed", true, path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    for (i = 0; NULL != lines[i]; i++) {
        fprintf(fp, "%s\n", lines[i]);
    }
    if (0 != fclose(fp) || 0 != lseek(fd, 0, SEEK_SET)) {
        pmix_show_help("help-plm-k8sgo.txt", "hostfile-failed", true, path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    free(path);
    return fd;
}

/* ---- the launch state ---------------------------------------------------- */

static void nothing_to_launch(prte_state_caddy_t *state)
{
    state->jdata->state = PRTE_JOB_STATE_DAEMONS_LAUNCHED;
    PRTE_ACTIVATE_JOB_STATE(state->jdata, PRTE_JOB_STATE_DAEMONS_REPORTED);
    PMIX_RELEASE(state);
}

static void launch_daemons(int fd, short args, void *cbdata)
{
    prte_state_caddy_t *state = (prte_state_caddy_t *) cbdata;
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);
    const char *script = prte_mca_plm_k8sgo_component.launch_script;
    char **argv = NULL, **prted = NULL, **env = NULL, **hosts = NULL, **lines = NULL;
    char *path = NULL, *prefix = NULL, *pmix_prefix = NULL, *line;
    pmix_rank_t first, end;
    int argc = 0, prtedc = 0, rc, hfd = -1, i;
    bool failed = true;
    PRTE_HIDE_UNUSED_PARAMS(fd, args);

    PMIX_ACQUIRE_OBJECT(state);

    if (PRTE_SUCCESS != (rc = prte_plm_base_setup_virtual_machine(state->jdata))) {
        PRTE_ERROR_LOG(rc);
        goto done;
    }
    /* nothing to start: mapping only (--do-not-launch), or every node of
     * this job already has its daemon (a DVM's second job) */
    if (prte_get_attribute(&daemons->attributes, PRTE_JOB_DO_NOT_LAUNCH, NULL, PMIX_BOOL)) {
        nothing_to_launch(state);
        return;
    }
    /* Our own count, not the map's: PRRTE 3.0 resets neither its count of
     * new daemons nor their first vpid when a DVM grows (prun --add-host),
     * so taking them would start old daemons again and the new ones never.
     * The daemons not yet started are those from the last we started to the
     * last PRRTE made. */
    first = next_vpid;
    end = daemons->num_procs;
    if (end <= first) {
        nothing_to_launch(state);
        return;
    }
    if (!new_daemons_ok(daemons, first, end,
                        NULL == daemons->map ? 0 : daemons->map->num_new_daemons)) {
        goto done;
    }

    if (NULL == script || '\0' == script[0]) {
        script = PRTE_PLM_K8SGO_DEFAULT_SCRIPT;
    }
    if (NULL == (path = pmix_path_findv((char *) script, X_OK, environ, NULL))) {
        /* one line: the run stops here, and nothing falls back to another launcher */
        fprintf(stderr, "%s: plm/k8sgo: launch script \"%s\" is not an executable file "
                "(plm_k8sgo_launch_script); set it to the launcher's path, e.g. "
                "$(command -v basic_launcher)\n", PRTE_PLM_K8SGO_TOOL, script);
        goto done;
    }
    if (prte_plm_k8sgo_args_keep_going()) {
        pmix_show_help("help-plm-k8sgo.txt", "keep-going", true,
                       PRTE_PLM_K8SGO_KEEP_GOING_FLAG, prte_mca_plm_k8sgo_component.launch_args);
        goto done;
    }
    if (0 != prte_plm_k8sgo_find_prefix(state->jdata, daemons, &prefix)) {
        goto done;
    }
    hosts = host_lines(daemons, first, end, &lines);
    if (0 > (hfd = hostfile_fd(lines))) {
        goto done;
    }

    pmix_prefix = prte_plm_k8sgo_find_pmix_prefix(daemons);
    if (PRTE_SUCCESS != prte_plm_k8sgo_prted_argv(&prtedc, &prted, prefix, pmix_prefix, first)) {
        goto done;
    }
    /* values go through the launcher and maybe a remote shell: quote them
     * as plm/ssh does (prted strips the quotes again); the launcher's own
     * words are left alone */
    prte_plm_base_wrap_args(prted);
    prte_plm_k8sgo_launcher_argv(&argc, &argv, path);
    for (i = 0; NULL != prted[i]; i++) {
        pmix_argv_append(&argc, &argv, prted[i]);
    }

    if (0 < pmix_output_get_verbosity(prte_plm_base_framework.framework_output)) {
        line = PMIX_ARGV_JOIN_COMPAT(argv, ' ');
        pmix_output(prte_plm_base_framework.framework_output,
                    "%s plm:k8sgo: %lu daemon(s) from vpid %lu: %s",
                    PRTE_NAME_PRINT(PRTE_PROC_MY_NAME), (unsigned long) (end - first),
                    (unsigned long) first, line);
        free(line);
        line = PMIX_ARGV_JOIN_COMPAT(lines, ',');
        pmix_output(prte_plm_base_framework.framework_output, "%s plm:k8sgo: hosts %s",
                    PRTE_NAME_PRINT(PRTE_PROC_MY_NAME), line);
        free(line);
    }

    env = prte_plm_k8sgo_launcher_environ();
    if (PRTE_SUCCESS != prte_plm_k8sgo_start(argv, env, path, hfd, first, end - first, hosts)) {
        goto done;
    }
    hosts = NULL; /* the launch record owns them now */
    next_vpid = end;
    state->jdata->state = PRTE_JOB_STATE_DAEMONS_LAUNCHED;
    daemons->state = PRTE_JOB_STATE_DAEMONS_LAUNCHED;
    failed = false;

done:
    if (0 <= hfd) {
        close(hfd);
    }
    PMIX_ARGV_FREE_COMPAT(argv);
    PMIX_ARGV_FREE_COMPAT(prted);
    PMIX_ARGV_FREE_COMPAT(env);
    PMIX_ARGV_FREE_COMPAT(hosts);
    PMIX_ARGV_FREE_COMPAT(lines);
    free(path);
    free(prefix);
    free(pmix_prefix);
    if (failed) {
        PRTE_UPDATE_EXIT_STATUS(PRTE_ERROR_DEFAULT_EXIT_CODE);
        PRTE_ACTIVATE_JOB_STATE(state->jdata, PRTE_JOB_STATE_FAILED_TO_LAUNCH);
    }
    PMIX_RELEASE(state);
}

/* Every daemon has called back: were they started where their lines say? */
static void daemons_reported(int fd, short args, void *cbdata)
{
    prte_state_caddy_t *caddy = (prte_state_caddy_t *) cbdata;
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);

    if (NULL != daemons && !prte_plm_k8sgo_check_placement(daemons)) {
        PRTE_UPDATE_EXIT_STATUS(PRTE_ERROR_DEFAULT_EXIT_CODE);
        PRTE_ACTIVATE_JOB_STATE(daemons, PRTE_JOB_STATE_FAILED_TO_START);
        PMIX_RELEASE(caddy);
        return;
    }
    /* wired up: every daemon reached us through its parent in the routing tree,
     * so the sessions are no longer what keeps it (docs/scaling.md) */
    if (prte_mca_plm_k8sgo_component.detach) {
        prte_plm_k8sgo_detach_launchers();
    }
    prte_plm_base_daemons_reported(fd, args, cbdata);
}

/* ---- teardown ------------------------------------------------------------ */

/* The daemons are gone, or PRRTE gave up on them: it quits next. After losing
 * a daemon it sends the others no exit command (the routing tree cannot be
 * trusted), so the launchers learn of the end here, and end the rest. And a
 * run whose daemon job PRRTE aborted has failed: PRRTE 3.0 would exit 0 after
 * the DVM was up, or 250 (its -6, "fatal") while it was starting, which says
 * nothing; the help text above and the launcher's lines say what happened. */
static void daemons_terminated(int fd, short args, void *cbdata)
{
    prte_job_t *daemons = prte_get_job_data_object(PRTE_PROC_MY_NAME->nspace);

    prte_plm_k8sgo_close_lifelines();
    if (prte_abnormal_term_ordered && NULL != daemons
        && PRTE_FLAG_TEST(daemons, PRTE_JOB_FLAG_ABORTED)) {
        PRTE_UPDATE_EXIT_STATUS(PRTE_ERROR_DEFAULT_EXIT_CODE);
    }
    prte_quit(fd, args, cbdata);
}

static int k8sgo_terminate_prteds(void)
{
    prte_job_t *daemons;
    int rc;

    if (0 < prte_plm_k8sgo_num_launches()) {
        /* the launchers learn that the end is ordered before their daemons
         * start exiting, so an exit is not taken for a failure */
        prte_plm_k8sgo_close_lifelines();
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

static int k8sgo_finalize(void)
{
    int rc;

    if (PRTE_SUCCESS != (rc = prte_plm_base_comm_stop())) {
        PRTE_ERROR_LOG(rc);
    }
    prte_plm_k8sgo_end_launchers();
    return PRTE_SUCCESS;
}
