#!/bin/bash
# A k8sgo launcher whose daemons outlive their prted: the real basic_launcher, each
# daemon wrapped in a shell that sleeps on after prted has exited, as a daemon
# that does not notice its HNP is gone would. Same command line as basic_launcher.
set -euo pipefail
ours=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do ours+=("$1"); shift; done
shift
exec basic_launcher "${ours[@]}" -- /bin/sh -c '"$@"; exec sleep 600' sh "$@"
