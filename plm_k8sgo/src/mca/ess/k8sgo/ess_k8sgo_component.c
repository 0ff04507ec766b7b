/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * ess/k8sgo component: available in a daemon that was given the way back
 * to its HNP. plm/k8sgo puts "ess k8sgo" on the daemons' command line, so
 * it is only ever asked for there.
 */

#include "prte_config.h"
#include "constants.h"

#include "src/util/proc_info.h"

#include "src/mca/ess/ess.h"
#include "src/mca/ess/k8sgo/ess_k8sgo.h"

static int k8sgo_open(void);
static int k8sgo_close(void);
static int k8sgo_query(pmix_mca_base_module_t **module, int *priority);

prte_ess_base_component_t prte_mca_ess_k8sgo_component = {
    PRTE_ESS_BASE_VERSION_3_0_0,
    .pmix_mca_component_name = "k8sgo",
    PMIX_MCA_BASE_MAKE_VERSION(component,
                               PRTE_MAJOR_VERSION,
                               PRTE_MINOR_VERSION,
                               PRTE_RELEASE_VERSION),
    .pmix_mca_open_component = k8sgo_open,
    .pmix_mca_close_component = k8sgo_close,
    .pmix_mca_query_component = k8sgo_query,
};

static int k8sgo_open(void)
{
    return PRTE_SUCCESS;
}

static int k8sgo_query(pmix_mca_base_module_t **module, int *priority)
{
    /* a missing or bad PRTE_ESS_K8SGO_ID is reported by the module, with a
     * message, rather than by declining here with none */
    if (PRTE_PROC_IS_DAEMON && NULL != prte_process_info.my_hnp_uri) {
        *priority = 50;
        *module = (pmix_mca_base_module_t *) &prte_ess_k8sgo_module;
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
