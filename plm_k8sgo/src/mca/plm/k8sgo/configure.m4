# -*- shell-script -*-
#
# SPDX-License-Identifier: BSD-3-Clause-Open-MPI
#
# MCA_prte_plm_k8sgo_CONFIG([action-if-can-build], [action-if-cannot-build])
# plm/k8sgo needs nothing beyond POSIX fork/exec: the launcher it runs is
# found at run time, so it can always be built.
AC_DEFUN([MCA_prte_plm_k8sgo_CONFIG],[
    AC_CONFIG_FILES([src/mca/plm/k8sgo/Makefile])
    plm_k8sgo_happy=yes
    AC_CHECK_FUNCS([mkstemp fork execv], [], [plm_k8sgo_happy=no])
    AS_IF([test "$plm_k8sgo_happy" = "yes"], [$1], [$2])
])dnl
