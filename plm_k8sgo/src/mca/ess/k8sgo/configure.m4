# -*- shell-script -*-
#
# SPDX-License-Identifier: BSD-3-Clause-Open-MPI
#
# MCA_prte_ess_k8sgo_CONFIG([action-if-can-build], [action-if-cannot-build])
# ess/k8sgo only reads its argv and one environment variable: always built.
AC_DEFUN([MCA_prte_ess_k8sgo_CONFIG],[
    AC_CONFIG_FILES([src/mca/ess/k8sgo/Makefile])
    $1
])dnl
