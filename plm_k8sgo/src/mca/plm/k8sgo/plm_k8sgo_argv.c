/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo: what the launcher is run with. Its command line, the prted
 * command line it runs on every host, and its environment; all made before
 * the fork, so the child only has to exec.
 */

#include "prte_config.h"
#include "constants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/mca/errmgr/errmgr.h"
#include "src/mca/prteinstalldirs/prteinstalldirs.h"
#include "src/runtime/prte_globals.h"
#include "src/util/name_fns.h"
#include "src/util/pmix_argv.h"
#include "src/util/pmix_basename.h"
#include "src/util/pmix_environ.h"
#include "src/util/pmix_printf.h"
#include "src/util/pmix_show_help.h"

#include "plm_k8sgo.h"
#include "src/mca/plm/base/base.h"
#include "src/mca/plm/base/plm_private.h"

/* ---- the prefix ---------------------------------------------------------- */

/* All daemons of a DVM come from one install, decided at its first launch
 * (as PRRTE 3.0.10+ keep it on the daemon job): a later job's --prefix does
 * not move the DVM's daemons elsewhere. */
static bool prefix_decided = false;
static char *dvm_prefix = NULL;

/* The install prefix the daemons come from: --prefix, else PRTE_PREFIX,
 * else NULL (this very install). PRRTE up to 3.0.9 keeps --prefix on each
 * app context (several different ones cannot be honoured by one launcher:
 * that is an error, -1); later 3.0.x keep it on the daemon job. */
int prte_plm_k8sgo_find_prefix(prte_job_t *jdata, prte_job_t *daemons, char **prefix)
{
    char *p = NULL;
#if defined(PRTE_APP_PREFIX_DIR)
    prte_app_context_t *app;
    int n;
#endif

    if (prefix_decided) {
        *prefix = NULL == dvm_prefix ? NULL : strdup(dvm_prefix);
        return 0;
    }
    *prefix = NULL;
#if defined(PRTE_APP_PREFIX_DIR)
    PRTE_HIDE_UNUSED_PARAMS(daemons);
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
    if (prte_get_attribute(&daemons->attributes, PRTE_JOB_PREFIX, (void **) &p, PMIX_STRING)) {
        *prefix = p;
    }
#endif
    if (NULL == *prefix && NULL != (p = getenv("PRTE_PREFIX")) && '\0' != p[0]) {
        *prefix = strdup(p);
    }
    prefix_decided = true;
    dvm_prefix = NULL == *prefix ? NULL : strdup(*prefix);
    return 0;
}

/* PRRTE 3.0.10+ also tell daemons where OpenPMIx is (--pmix-prefix). */
char *prte_plm_k8sgo_find_pmix_prefix(prte_job_t *daemons)
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

/* ---- the prted command line ---------------------------------------------- */

/* With a prefix, the daemon's PATH and LD_LIBRARY_PATH get the prefix's
 * bin and lib first, as plm/ssh puts them into its remote shell (a prefix
 * install without an rpath needs that to start at all). The launcher runs
 * argv words as they are, with no shell, so a small one is put in front:
 *     /bin/sh -c 'PATH=...; LD_LIBRARY_PATH=...; exec "$@"' sh BIN LIB prted...
 * The directories are its arguments, never part of its text: no quoting. */
static const char prefix_shell[] =
    "PATH=\"$1${PATH:+:$PATH}\"; LD_LIBRARY_PATH=\"$2${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\"; "
    "export PATH LD_LIBRARY_PATH; shift 2; exec \"$@\"";

static void append_prefix_shell(int *argc, char ***argv, const char *prefix,
                                const char *pmix_prefix)
{
    char *bin, *lib, *dir = NULL, *libs = NULL;

    /* the names of this install's bin and lib, as plm/ssh takes them */
    bin = pmix_basename(prte_install_dirs.bindir);
    lib = pmix_basename(prte_install_dirs.libdir);
    pmix_argv_append(argc, argv, "/bin/sh");
    pmix_argv_append(argc, argv, "-c");
    pmix_argv_append(argc, argv, prefix_shell);
    pmix_argv_append(argc, argv, "sh");
    pmix_asprintf(&dir, "%s/%s", prefix, bin);
    pmix_argv_append(argc, argv, dir);
    free(dir);
    if (NULL != pmix_prefix) {
        pmix_asprintf(&libs, "%s/%s:%s/%s", prefix, lib, pmix_prefix, lib);
    } else {
        pmix_asprintf(&libs, "%s/%s", prefix, lib);
    }
    pmix_argv_append(argc, argv, libs);
    free(libs);
    free(bin);
    free(lib);
}

/* Append the prted command and its arguments. The launcher runs them as
 * they are, in pods whose environment is the pod's own, so:
 *  - "prted" becomes an absolute path: PREFIX/<bindir's name>/prted, or the
 *    prted installed beside this very PRRTE;
 *  - PRTE_PREFIX is set through env(1), as plm/ssh sets it in its remote
 *    shell: a pod may carry another PRRTE's PRTE_PREFIX, and prted takes its
 *    help files and install paths from it;
 *  - --leave-session-attached keeps prted from detaching into the
 *    background with its output closed: the launcher watches the daemon
 *    itself, and a daemon that cannot start (ess/k8sgo's id checks) must be
 *    able to say why on its stderr. */
int prte_plm_k8sgo_prted_argv(int *argc, char ***argv, const char *prefix,
                              const char *pmix_prefix, pmix_rank_t first)
{
    char *vpid = NULL, *setting = NULL, *bin, **cmd = NULL;
    int start, vpid_slot, loc, rc, cmdc = 0, i;

    if (NULL != prefix) {
        append_prefix_shell(argc, argv, prefix, pmix_prefix);
    }
    pmix_asprintf(&setting, "PRTE_PREFIX=%s", NULL != prefix ? prefix : prte_install_dirs.prefix);
    pmix_argv_append(argc, argv, "/usr/bin/env");
    pmix_argv_append(argc, argv, setting);
    free(setting);
    if (NULL != pmix_prefix) {
        pmix_asprintf(&setting, "PMIX_PREFIX=%s", pmix_prefix);
        pmix_argv_append(argc, argv, setting);
        free(setting);
    }

    /* prte_launch_agent, split: "prted", or a wrapper such as "valgrind prted" */
    loc = prte_plm_base_setup_prted_cmd(&cmdc, &cmd);
    if (NULL == cmd || NULL == cmd[loc]) {
        pmix_show_help("help-plm-k8sgo.txt", "no-prted", true,
                       NULL == prte_launch_agent ? "" : prte_launch_agent);
        PMIX_ARGV_FREE_COMPAT(cmd);
        return PRTE_ERR_SILENT;
    }
    start = *argc;
    for (i = 0; NULL != cmd[i]; i++) {
        pmix_argv_append(argc, argv, cmd[i]);
    }
    PMIX_ARGV_FREE_COMPAT(cmd);
    if (0 == strcmp((*argv)[start + loc], "prted")) {
        free((*argv)[start + loc]);
        if (NULL != prefix) {
            bin = pmix_basename(prte_install_dirs.bindir);
            pmix_asprintf(&(*argv)[start + loc], "%s/%s/prted", prefix, bin);
            free(bin);
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

/* ---- the launcher's command line and environment ------------------------- */

static char **launch_args(void)
{
    const char *args = prte_mca_plm_k8sgo_component.launch_args;

    return NULL == args ? NULL : PMIX_ARGV_SPLIT_COMPAT(args, ' ');
}

bool prte_plm_k8sgo_args_keep_going(void)
{
    char **extra = launch_args();
    bool found = false;
    int i;

    for (i = 0; NULL != extra && NULL != extra[i]; i++) {
        found = found || 0 == strcmp(extra[i], PRTE_PLM_K8SGO_KEEP_GOING_FLAG);
    }
    PMIX_ARGV_FREE_COMPAT(extra);
    return found;
}

/* SCRIPT [-q] [--detachable] [ARGS] -f /dev/fd/N -- */
void prte_plm_k8sgo_launcher_argv(int *argc, char ***argv, const char *script)
{
    char **extra = launch_args(), *hostfile = NULL;
    int i;

    pmix_argv_append(argc, argv, script);
    if (prte_mca_plm_k8sgo_component.launch_quiet) {
        pmix_argv_append(argc, argv, "-q");
    }
    if (prte_mca_plm_k8sgo_component.detach) {
        pmix_argv_append(argc, argv, PRTE_PLM_K8SGO_DETACHABLE_FLAG);
    }
    for (i = 0; NULL != extra && NULL != extra[i]; i++) {
        if ('\0' != extra[i][0]) {
            pmix_argv_append(argc, argv, extra[i]);
        }
    }
    PMIX_ARGV_FREE_COMPAT(extra);
    pmix_argv_append(argc, argv, "-f");
    pmix_asprintf(&hostfile, "/dev/fd/%d", PRTE_PLM_K8SGO_HOSTFILE_FD);
    pmix_argv_append(argc, argv, hostfile);
    free(hostfile);
    pmix_argv_append(argc, argv, "--");
}

/* Is entry "NAME=..." one of names? */
static bool named(const char *entry, const char *const *names)
{
    size_t n;
    int i;

    for (i = 0; NULL != names[i]; i++) {
        n = strlen(names[i]);
        if (0 == strncmp(entry, names[i], n) && '=' == entry[n]) {
            return true;
        }
    }
    return false;
}

char **prte_plm_k8sgo_launcher_environ(void)
{
    /* tool-connection settings of ours are not the daemons' business; the
     * launcher must never let the other daemons run after one failed; the
     * lifeline is ours to name */
    static const char *const dropped[] = {"PMIX_LAUNCHER_PAUSE_FOR_TOOL",
                                          "PMIX_LAUNCHER_RENDEZVOUS_FILE",
                                          PRTE_PLM_K8SGO_KEEP_GOING_ENV,
                                          PRTE_PLM_K8SGO_LIFELINE_ENV, NULL};
    /* prterun's pristine copy (no PRRTE or PMIx settings), as plm/ssh uses */
    char **from = NULL != prte_launch_environ ? prte_launch_environ : environ;
    char **env = NULL, *lifeline = NULL;
    int n = 0, i;

    for (i = 0; NULL != from && NULL != from[i]; i++) {
        if (!named(from[i], dropped)) {
            pmix_argv_append(&n, &env, from[i]);
        }
    }
    pmix_asprintf(&lifeline, "%s=%d", PRTE_PLM_K8SGO_LIFELINE_ENV, PRTE_PLM_K8SGO_LIFELINE_FD);
    pmix_argv_append(&n, &env, lifeline);
    free(lifeline);
    return env;
}
