/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * ess/k8sgo: names a prted started by plm/k8sgo's launcher.
 */

#ifndef PRTE_ESS_K8SGO_H
#define PRTE_ESS_K8SGO_H

#include "prte_config.h"

#include "src/mca/ess/ess.h"

BEGIN_C_DECLS

/* set by the launcher: this daemon's 0-based line in its hostfile */
#define PRTE_ESS_K8SGO_ID_ENV "PRTE_ESS_K8SGO_ID"

PRTE_MODULE_EXPORT extern prte_ess_base_component_t prte_mca_ess_k8sgo_component;
extern prte_ess_base_module_t prte_ess_k8sgo_module;

/* in prterun/prte: one line if plm/k8sgo's script is set but the plm list
 * leaves plm/k8sgo out (ess_k8sgo_notice.c) */
void prte_ess_k8sgo_notice_unused_script(void);
/* How a selection list ("k8sgo", "env,k8sgo", "^ssh,k8sgo") names k8sgo: 1 asked
 * for, -1 excluded, 0 not named */
int prte_ess_k8sgo_selection(const char *sel);

END_C_DECLS

#endif /* PRTE_ESS_K8SGO_H */
