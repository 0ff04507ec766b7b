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

END_C_DECLS

#endif /* PRTE_ESS_K8SGO_H */
