# kube-pmix's fuse device plugin (fuse-plugin/, Go): the kubelet's device-plugin
# API at the test bed's release (k8s.io/kubelet v0.34.4). Included from the main
# Makefile; the runtime-with-podman image carries the binary, and
# `make deploy-fuse-plugin` runs it as a DaemonSet (manifests/fuse-plugin).
#
#   make fuse-plugin    build/fuse-plugin/kube-pmix-fuse-plugin (static)

FUSE_PLUGIN := build/fuse-plugin/kube-pmix-fuse-plugin

.PHONY: fuse-plugin

fuse-plugin: $(FUSE_PLUGIN)

$(FUSE_PLUGIN): fuse-plugin/go.mod fuse-plugin/go.sum $(wildcard fuse-plugin/*.go)
	@command -v go >/dev/null || { echo "make fuse-plugin: Go is missing (Go 1.24 or newer on PATH)" >&2; exit 2; }
	mkdir -p $(dir $@)
	cd fuse-plugin && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags '-s -w' -o ../$@ .
	chmod -R a+rX build/fuse-plugin
