/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * ess/k8sgo module. plm/k8sgo starts all daemons of a launch with one
 * command line whose ess_base_vpid is the first new vpid; the launcher adds
 * PRTE_ESS_K8SGO_ID (the daemon's line in its hostfile), so
 *     vpid = ess_base_vpid + PRTE_ESS_K8SGO_ID,
 * which must name a daemon of this DVM: 1 <= vpid < ess_base_num_procs
 * (vpid 0 is the HNP). Anything else is reported and the daemon exits,
 * rather than joining under a wrong or duplicate name.
 */

#include "prte_config.h"
#include "constants.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "src/mca/errmgr/errmgr.h"
#include "src/runtime/prte_globals.h"
#include "src/util/name_fns.h"
#include "src/util/pmix_output.h"
#include "src/util/pmix_show_help.h"
#include "src/util/proc_info.h"

#include "src/mca/ess/base/base.h"
#include "src/mca/ess/ess.h"
#include "src/mca/ess/k8sgo/ess_k8sgo.h"

static int rte_init(int argc, char **argv);
static int rte_finalize(void);

prte_ess_base_module_t prte_ess_k8sgo_module = {
    .init = rte_init,
    .finalize = rte_finalize,
};

/* A whole decimal number in [0, LONG_MAX], or -1. */
static long parse_index(const char *s)
{
    char *end = NULL;
    long v;

    if (NULL == s || '\0' == s[0] || '-' == s[0] || '+' == s[0]) {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (0 != errno || '\0' != *end) {
        return -1;
    }
    return v;
}

static const char *host(void)
{
    return NULL == prte_process_info.nodename ? "(unknown host)" : prte_process_info.nodename;
}

static int set_name(void)
{
    const char *id_text = getenv(PRTE_ESS_K8SGO_ID_ENV);
    long base, id, num = prte_ess_base_num_procs;

    if (NULL == prte_ess_base_nspace || NULL == prte_ess_base_vpid) {
        pmix_show_help("help-ess-k8sgo.txt", "no-base", true,
                       NULL == prte_ess_base_nspace ? "ess_base_nspace" : "ess_base_vpid");
        return PRTE_ERR_SILENT;
    }
    if (0 > (base = parse_index(prte_ess_base_vpid))) {
        pmix_show_help("help-ess-k8sgo.txt", "bad-base", true, prte_ess_base_vpid);
        return PRTE_ERR_SILENT;
    }
    if (NULL == id_text) {
        pmix_show_help("help-ess-k8sgo.txt", "id-missing", true, host(), PRTE_ESS_K8SGO_ID_ENV);
        return PRTE_ERR_SILENT;
    }
    if (0 > (id = parse_index(id_text))) {
        pmix_show_help("help-ess-k8sgo.txt", "id-not-a-number", true, host(),
                       PRTE_ESS_K8SGO_ID_ENV, id_text);
        return PRTE_ERR_SILENT;
    }
    /* num is the size of the DVM, HNP included; unknown (-1) lets the
     * check fall to the HNP, which refuses names it never handed out. The
     * last test is in pmix_rank_t's own (unsigned) terms: a long may be 32
     * bits, and PMIX_RANK_VALID does not fit in one. */
    if (id > LONG_MAX - base || base + id < 1
        || (0 < num && base + id >= num)
        || (unsigned long) (base + id) >= (unsigned long) PMIX_RANK_VALID) {
        pmix_show_help("help-ess-k8sgo.txt", "id-out-of-range", true, host(),
                       PRTE_ESS_K8SGO_ID_ENV, id_text, base, num);
        return PRTE_ERR_SILENT;
    }

    PMIX_LOAD_NSPACE(PRTE_PROC_MY_NAME->nspace, prte_ess_base_nspace);
    PRTE_PROC_MY_NAME->rank = (pmix_rank_t) (base + id);
    prte_process_info.num_daemons = prte_ess_base_num_procs;

    PMIX_OUTPUT_VERBOSE((1, prte_ess_base_framework.framework_output,
                         "ess:k8sgo: %s=%ld + base %ld: I am %s", PRTE_ESS_K8SGO_ID_ENV, id,
                         base, PRTE_NAME_PRINT(PRTE_PROC_MY_NAME)));
    return PRTE_SUCCESS;
}

static int rte_init(int argc, char **argv)
{
    const char *step;
    int rc;
    PRTE_HIDE_UNUSED_PARAMS(argc, argv);

    if (PRTE_SUCCESS != (rc = prte_ess_base_std_prolog())) {
        step = "prte_ess_base_std_prolog";
        goto error;
    }
    if (PRTE_SUCCESS != (rc = set_name())) {
        /* set_name has said what is wrong */
        return rc;
    }
    if (PRTE_SUCCESS != (rc = prte_ess_base_prted_setup())) {
        PRTE_ERROR_LOG(rc);
        step = "prte_ess_base_prted_setup";
        goto error;
    }
    return PRTE_SUCCESS;

error:
    if (PRTE_ERR_SILENT != rc && !prte_report_silent_errors) {
        pmix_show_help("help-prte-runtime.txt", "prte_init:startup:internal-failure", true, step,
                       PRTE_ERROR_NAME(rc), rc);
    }
    return rc;
}

static int rte_finalize(void)
{
    int rc;

    if (PRTE_SUCCESS != (rc = prte_ess_base_prted_finalize())) {
        PRTE_ERROR_LOG(rc);
    }
    return rc;
}
