#!/bin/bash
# A k8sgo launcher whose daemon EARLY_ID exits with EARLY_STATUS, before it could
# call back: at once, or EARLY_DELAY seconds on (the others have called back by
# then). The real basic_launcher, the daemon wrapped in a shell that exits for
# that id. Same command line as basic_launcher.
set -euo pipefail
ours=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do ours+=("$1"); shift; done
shift
: "${EARLY_ID:?}" "${EARLY_STATUS:?}"
exec basic_launcher "${ours[@]}" -- /bin/sh -c \
    "[ \"\$PRTE_ESS_K8SGO_ID\" = $EARLY_ID ] && { sleep ${EARLY_DELAY:-0}; exit $EARLY_STATUS; }; exec \"\$@\"" \
    sh "$@"
