/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo component: its MCA parameters, and whether it should be the
 * launcher. Kept apart from the module so that prte_info can list the
 * parameters without pulling in the launch code.
 */

#include "prte_config.h"
#include "constants.h"

#include <string.h>

#include "src/mca/base/pmix_mca_base_var.h"
#include "src/runtime/prte_globals.h"
#include "src/util/name_fns.h"
#include "src/util/pmix_argv.h"
#include "src/util/pmix_output.h"

#include "plm_k8sgo.h"
#include "src/mca/plm/base/plm_private.h"
#include "src/mca/plm/plm.h"

const char *prte_mca_plm_k8sgo_component_version_string
    = "PRTE k8sgo plm MCA component version " PRTE_VERSION;

static int k8sgo_register(void);
static int k8sgo_open(void);
static int k8sgo_close(void);
static int k8sgo_query(pmix_mca_base_module_t **module, int *priority);

prte_mca_plm_k8sgo_component_t prte_mca_plm_k8sgo_component = {
    .super = {
        PRTE_PLM_BASE_VERSION_2_0_0,
        .pmix_mca_component_name = "k8sgo",
        PMIX_MCA_BASE_MAKE_VERSION(component,
                                   PRTE_MAJOR_VERSION,
                                   PRTE_MINOR_VERSION,
                                   PRTE_RELEASE_VERSION),
        .pmix_mca_open_component = k8sgo_open,
        .pmix_mca_close_component = k8sgo_close,
        .pmix_mca_query_component = k8sgo_query,
        .pmix_mca_register_component_params = k8sgo_register,
    },
    .launch_script = NULL,
    .launch_quiet = false,
    .launch_args = NULL,
    .detach = false,
};

static int k8sgo_register(void)
{
    pmix_mca_base_component_t *c = &prte_mca_plm_k8sgo_component.super;

    prte_mca_plm_k8sgo_component.launch_script = NULL;
    pmix_mca_base_component_var_register(c, "launch_script",
        "Launcher that starts all daemons of a launch: run as "
        "SCRIPT [-q] [ARGS] -f HOSTFILE -- PRTED ARGV... (setting it selects "
        "this component; default when plm=k8sgo is asked for: "
        PRTE_PLM_K8SGO_DEFAULT_SCRIPT " on PATH)",
        PMIX_MCA_BASE_VAR_TYPE_STRING, &prte_mca_plm_k8sgo_component.launch_script);

    prte_mca_plm_k8sgo_component.launch_quiet = false;
    pmix_mca_base_component_var_register(c, "launch_quiet",
        "Pass -q to the launcher, silencing its own diagnostics (never the daemons' output)",
        PMIX_MCA_BASE_VAR_TYPE_BOOL, &prte_mca_plm_k8sgo_component.launch_quiet);

    prte_mca_plm_k8sgo_component.launch_args = NULL;
    pmix_mca_base_component_var_register(c, "launch_args",
        "Extra launcher arguments, split on spaces, put before -f HOSTFILE "
        "(e.g. the launcher's transport or namespace flags)",
        PMIX_MCA_BASE_VAR_TYPE_STRING, &prte_mca_plm_k8sgo_component.launch_args);

    prte_mca_plm_k8sgo_component.detach = false;
    pmix_mca_base_component_var_register(c, "detach",
        "Once every daemon has reported, have the launcher end its sessions (exec "
        "or ssh) and exit, the daemons living on by PRRTE's own connections: "
        "nothing is held through the API server for the job's life (needs a "
        "launcher that takes " PRTE_PLM_K8SGO_DETACHABLE_FLAG ", as ours does)",
        PMIX_MCA_BASE_VAR_TYPE_BOOL, &prte_mca_plm_k8sgo_component.detach);

    return PRTE_SUCCESS;
}

static int k8sgo_open(void)
{
    return PRTE_SUCCESS;
}

/* Is "k8sgo" named in the plm selection list (plm=k8sgo, plm=k8sgo,ssh)?
 * An exclusion list ("^ssh") names what not to use, so it never asks for us. */
static bool asked_for_by_name(void)
{
    const char *sel = prte_plm_base_framework.framework_selection;
    char **names;
    bool found = false;
    int i;

    if (NULL == sel || '^' == sel[0]) {
        return false;
    }
    names = PMIX_ARGV_SPLIT_COMPAT(sel, ',');
    for (i = 0; NULL != names && NULL != names[i]; i++) {
        if (0 == strcmp(names[i], "k8sgo")) {
            found = true;
        }
    }
    PMIX_ARGV_FREE_COMPAT(names);
    return found;
}

static int k8sgo_query(pmix_mca_base_module_t **module, int *priority)
{
    const char *script = prte_mca_plm_k8sgo_component.launch_script;
    bool by_script = (NULL != script && '\0' != script[0]);

    /* daemons never launch daemons here: the launcher starts them all */
    if (!PRTE_PROC_IS_DAEMON && (by_script || asked_for_by_name())) {
        PMIX_OUTPUT_VERBOSE((1, prte_plm_base_framework.framework_output,
                             "%s plm:k8sgo: selectable (%s)", PRTE_NAME_PRINT(PRTE_PROC_MY_NAME),
                             by_script ? "launch_script is set" : "plm=k8sgo"));
        /* above slurm's 75: setting our script is an explicit choice */
        *priority = 100;
        *module = (pmix_mca_base_module_t *) &prte_plm_k8sgo_module;
        return PRTE_SUCCESS;
    }
    *priority = -1;
    *module = NULL;
    return PRTE_ERROR;
}

static int k8sgo_close(void)
{
    return PRTE_SUCCESS;
}
