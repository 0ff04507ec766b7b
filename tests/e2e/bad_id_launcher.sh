#!/bin/bash
# A deliberately wrong k8sgo launcher, for tests of ess/k8sgo's checks: the
# real basic_launcher, but every daemon runs with PRTE_ESS_K8SGO_ID removed
# (BAD_ID=unset) or set to BAD_ID. Same command line as basic_launcher.
set -euo pipefail
ours=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do ours+=("$1"); shift; done
shift
case ${BAD_ID:?BAD_ID must be unset or a value} in
    unset) fix=(-u PRTE_ESS_K8SGO_ID) ;;
    *) fix=("PRTE_ESS_K8SGO_ID=$BAD_ID") ;;
esac
exec basic_launcher "${ours[@]}" -- /usr/bin/env "${fix[@]}" "$@"
