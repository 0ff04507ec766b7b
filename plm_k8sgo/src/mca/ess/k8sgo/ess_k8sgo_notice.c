/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * Never silent: plm/k8sgo's launch script is set, yet the plm selection
 * leaves plm/k8sgo out (PRTE_MCA_plm=ssh, "^k8sgo", "--prtemca plm ssh").
 * Then another plm starts the daemons and plm/k8sgo is not even loaded, so
 * this one line, from the ess selection every prterun makes, is all the
 * user hears about it. (See ess_k8sgo_component.c.)
 */

#include "prte_config.h"
#include "constants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/runtime/prte_globals.h"
#include "src/util/pmix_argv.h"

#include "src/mca/ess/k8sgo/ess_k8sgo.h"

#define SCRIPT_ENV "PRTE_MCA_plm_k8sgo_launch_script"
#define PLM_ENV    "PRTE_MCA_plm"

int prte_ess_k8sgo_selection(const char *sel)
{
    char **names;
    bool excluding, listed = false;
    int i;

    if (NULL == sel || '\0' == sel[0]) {
        return 0;
    }
    excluding = '^' == sel[0];
    names = PMIX_ARGV_SPLIT_COMPAT(excluding ? sel + 1 : sel, ',');
    for (i = 0; NULL != names && NULL != names[i]; i++) {
        listed = listed || 0 == strcmp(names[i], "k8sgo");
    }
    PMIX_ARGV_FREE_COMPAT(names);
    return !listed ? 0 : excluding ? -1 : 1;
}

/* Does the plm list let plm/k8sgo be chosen? Unset: yes (its script picks it). */
static bool plm_list_allows_k8sgo(const char *sel)
{
    int how = prte_ess_k8sgo_selection(sel);

    return NULL == sel || '\0' == sel[0] || 1 == how || ('^' == sel[0] && 0 == how);
}

void prte_ess_k8sgo_notice_unused_script(void)
{
    static bool said = false;
    const char *script = getenv(SCRIPT_ENV), *sel = getenv(PLM_ENV);

    if (said || NULL == script || '\0' == script[0] || plm_list_allows_k8sgo(sel)) {
        return;
    }
    said = true;
    fprintf(stderr, "%s: %s is set, but plm=%s leaves plm/k8sgo out: the daemons are "
            "started by another plm, not by %s\n",
            NULL == prte_tool_basename ? "prterun" : prte_tool_basename, SCRIPT_ENV, sel,
            script);
}
