#!/bin/bash
# A deliberately wrong k8sgo launcher, for the placement check of plm/k8sgo: the
# real basic_launcher, given the host list with its first two lines swapped, so
# daemon 0 runs on line 1's host and daemon 1 on line 0's. Same command line as
# basic_launcher.
set -euo pipefail
ours=() hostfile=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    if [ "$1" = -f ]; then hostfile=$2; shift 2; continue; fi
    ours+=("$1"); shift
done
mapfile -t lines <"$hostfile"
swapped=("${lines[1]}" "${lines[0]}" "${lines[@]:2}")
exec basic_launcher "${ours[@]}" -f <(printf '%s\n' "${swapped[@]}") "$@"
