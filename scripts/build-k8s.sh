#!/usr/bin/env bash
# Build one pinned Go module of k8s/ (its `tool` lines) into a bin folder.
#   scripts/build-k8s.sh MODULE_DIR BIN_DIR
# Static binaries (no cgo): the node's images hold them alone, and the host's
# C libraries cannot skew them. Go's build cache makes a second run cheap.
set -euo pipefail
module=$1
bin=$2
say() { echo "make k8s: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
    say "Go is missing: the real test bed's components are built from Go modules (Go 1.24 or newer on PATH)"
    exit 2
fi
mkdir -p "$bin"
cd "$module"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=readonly"
# Downloads first, so that an unreachable module proxy is one line, not a build log.
if ! out=$(go mod download 2>&1); then
    say "cannot fetch the modules of $module from the Go module proxy ($(go env GOPROXY)): $(echo "$out" | grep -v '^go: downloading' | tail -1)"
    exit 3
fi
# the module's `tool` lines, and its own main package where it has one (k8s/coredns)
tools=$(go list -f '{{.ImportPath}}' tool 2>/dev/null || true)
if compgen -G '*.go' >/dev/null; then tools="$tools $(go list -f '{{.ImportPath}}' .)"; fi
# A binary is named after its package path's last element, before a /vN suffix:
# etcd's server module builds as "server".
names=$(echo $tools | tr ' ' '\n' | sed -E 's|/v[0-9]+$||; s|.*/||; s|^server$|etcd|' | tr '\n' ' ')
say "building ${names}($module, $(go version | cut -d' ' -f3))"
# Release builds stamp their version with -X; without it the components say
# v0.0.0-master, and clients that look at the server's version misjudge it.
ldflags="-s -w"
stamp() { # MODULE_PATH VARIABLE...: set each variable to that module's version
    local v; v=$(go list -m -f '{{.Version}}' "$1"); shift
    for var in "$@"; do ldflags+=" -X $var=$v"; done
}
case "$module" in
*/kubernetes)
    stamp k8s.io/kubernetes k8s.io/component-base/version.gitVersion \
        k8s.io/client-go/pkg/version.gitVersion
    minor=$(go list -m -f '{{.Version}}' k8s.io/kubernetes | cut -d. -f2)
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        ldflags+=" -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    done ;;
*/containerd)
    stamp github.com/containerd/containerd/v2 github.com/containerd/containerd/v2/version.Version ;;
esac
start=$SECONDS
go build -trimpath -ldflags="$ldflags" -o "$OLDPWD/$bin/" $tools
if [ -e "$OLDPWD/$bin/server" ]; then mv "$OLDPWD/$bin/server" "$OLDPWD/$bin/etcd"; fi
say "$module built in $((SECONDS - start)) s"
