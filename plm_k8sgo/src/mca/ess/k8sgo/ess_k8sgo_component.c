/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * ess/k8sgo component: available in a daemon that was given the way back
 * to its HNP and either its PRTE_ESS_K8SGO_ID or "ess k8sgo" by name.
 * plm/k8sgo puts "ess k8sgo" on the daemons' command line, so a daemon it
 * started without an id still selects us and hears what is wrong; a daemon
 * started any other way, with neither, is left to the other components.
 *
 * In prterun and prte (never a daemon) the query also says, in one line,
 * when plm/k8sgo's launch script is set but the plm selection leaves the
 * component out: ess is selected in every run, whatever the plm list says,
 * while plm/k8sgo itself is then not even loaded and cannot speak.
 */

#include "prte_config.h"
#include "constants.h"

#include <stdlib.h>

#include "src/util/proc_info.h"

#include "src/mca/ess/base/base.h"
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
    if (PRTE_PROC_IS_MASTER) {
        prte_ess_k8sgo_notice_unused_script();
    }
    /* a missing or bad PRTE_ESS_K8SGO_ID in a daemon plm/k8sgo started is
     * reported by the module, with a message, rather than by declining here */
    if (PRTE_PROC_IS_DAEMON && NULL != prte_process_info.my_hnp_uri
        && (NULL != getenv(PRTE_ESS_K8SGO_ID_ENV)
            || 1 == prte_ess_k8sgo_selection(prte_ess_base_framework.framework_selection))) {
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
