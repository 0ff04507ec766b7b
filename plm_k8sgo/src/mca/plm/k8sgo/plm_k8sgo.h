/*
 * SPDX-License-Identifier: BSD-3-Clause-Open-MPI
 *
 * plm/k8sgo: start every daemon of a launch through one launcher process,
 *
 *     SCRIPT [-q] [ARGS...] -f HOSTFILE -- PRTED ARGV...
 *
 * where HOSTFILE lists the hosts in daemon order and the launcher gives
 * daemon i the variable PRTE_ESS_K8SGO_ID=i (read by ess/k8sgo).
 */

#ifndef PRTE_PLM_K8SGO_H
#define PRTE_PLM_K8SGO_H

#include "prte_config.h"

#include "src/mca/mca.h"
#include "src/mca/plm/plm.h"

BEGIN_C_DECLS

/* the launcher used when plm=k8sgo is asked for without a script */
#define PRTE_PLM_K8SGO_DEFAULT_SCRIPT "basic_launcher"

typedef struct {
    prte_plm_base_component_t super;
    char *launch_script; /* plm_k8sgo_launch_script */
    bool launch_quiet;   /* plm_k8sgo_launch_quiet: pass -q */
    char *launch_args;   /* plm_k8sgo_launch_args: words put before -f */
} prte_mca_plm_k8sgo_component_t;

PRTE_MODULE_EXPORT extern prte_mca_plm_k8sgo_component_t prte_mca_plm_k8sgo_component;
PRTE_EXPORT extern prte_plm_base_module_t prte_plm_k8sgo_module;

END_C_DECLS

#endif /* PRTE_PLM_K8SGO_H */
