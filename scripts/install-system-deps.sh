#!/usr/bin/env bash
# Installs the Debian packages kube-pmix needs on the machine that runs the
# local cluster, the tests and the demo. Idempotent: does nothing when all are there.
set -euo pipefail

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ip >/dev/null || need+=(iproute2)
command -v fuse-overlayfs >/dev/null || need+=(fuse-overlayfs)
command -v nsenter >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(gcc)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v docker-registry >/dev/null || need+=(docker-registry)
# the real test bed's node (make k8s builds the rest): the CNI bridge and kube-proxy's iptables
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
[ -x /usr/sbin/iptables ] || need+=(iptables)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# make prrte-k8sgo: PRRTE's autogen.pl, then OpenPMIx and PRRTE against the system's libevent/hwloc
for tool in autoconf automake libtoolize:libtool flex m4 perl make xz:xz-utils; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
[ -f /usr/include/event2/event.h ] || need+=(libevent-dev)
[ -f /usr/include/hwloc.h ] || need+=(libhwloc-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: missing ${need[*]}; run as root (apt-get install ${need[*]})" >&2
    exit 1
fi
echo "install-system-deps: apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
