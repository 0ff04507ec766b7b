"""A real Kubernetes on this machine: the second test bed, beside the local cluster.

Upstream components built from pinned modules (`make k8s`, `k8s/`) run as one
node: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
with runc and a CNI bridge, the kubelet, kube-proxy and CoreDNS, with the
project's image registry. Every process of a cluster lives in a network
namespace and a mount namespace of its own, so nothing but loopback relays
reaches this machine's network, and `down` leaves nothing behind.
"""
