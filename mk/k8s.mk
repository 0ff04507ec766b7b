# The real test bed's components (kube_pmix/k8s/), built from the pinned Go
# modules under k8s/ into build/k8s/bin. Included from the main Makefile.
#
#   make k8s     kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
#                kube-proxy and etcd (k8s/kubernetes), containerd, its runc shim
#                and ctr (k8s/containerd), crictl (k8s/cri-tools), CoreDNS
#                (k8s/coredns), and the sandbox's pause (k8s/pause, C).
#                Cold: downloads and compiles (see docs/real-kubernetes.md for the
#                time); a second run with nothing changed costs nothing.
# runc, the CNI plugins and the registry come from Debian (system-deps).

K8S_BIN     := build/k8s/bin
K8S_MODULES := kubernetes containerd cri-tools coredns

.SECONDEXPANSION:

.PHONY: k8s

k8s: $(foreach m,$(K8S_MODULES),build/k8s/.stamp-$(m)) $(K8S_BIN)/pause

build/k8s/.stamp-%: k8s/%/go.mod k8s/%/go.sum $$(wildcard k8s/%/*.go) scripts/build-k8s.sh
	bash scripts/build-k8s.sh k8s/$* $(K8S_BIN)
	touch $@

# static: the sandbox image holds this one file
$(K8S_BIN)/pause: k8s/pause/pause.c
	mkdir -p $(K8S_BIN)
	$(CC) -O2 -static -Wall -Wextra -Werror -o $@ $<
