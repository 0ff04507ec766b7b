"""Argument lists of the cluster's processes, in the order `up` starts them.

Pure builders: each takes the `Plan` and returns the argv of one component.
The flags are the ones kubeadm and upstream's hack/local-up-cluster.sh give,
trimmed to one node in a network namespace of its own; where a flag departs
from a production node, the comment says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import layout
from .plan import SYSTEM, Plan


@dataclass(frozen=True)
class Component:
    """A process of the cluster: its name (also its log file's) and how to start it."""

    name: str
    argv: Callable[[Plan], list[str]]


def registry(plan: Plan) -> list[str]:
    return [SYSTEM["docker-registry"], "serve", plan.etc("registry.yaml")]


def etcd(plan: Plan) -> list[str]:
    peer = "http://127.0.0.1:2380"
    client = f"http://127.0.0.1:{layout.ETCD_PORT}"
    return [
        plan.bin("etcd"), "--name", plan.node, "--data-dir", str(plan.state.etcd_data),
        # the namespace's own loopback: no one outside the cluster's namespace reaches it
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"{plan.node}={peer}",
        # a test bed, rebuilt at every `up`: durability is not worth an fsync per write
        "--unsafe-no-fsync", "--log-level", "warn",
    ]


def kube_apiserver(plan: Plan) -> list[str]:
    return [
        plan.bin("kube-apiserver"),
        f"--etcd-servers=http://127.0.0.1:{layout.ETCD_PORT}",
        "--bind-address=0.0.0.0", f"--secure-port={layout.API_PORT}",
        f"--advertise-address={layout.NODE_IP}",
        f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
        f"--client-ca-file={plan.pki('ca')}",
        f"--tls-cert-file={plan.pki('apiserver')}",
        f"--tls-private-key-file={plan.pki('apiserver', 'key')}",
        f"--kubelet-client-certificate={plan.pki('apiserver-kubelet-client')}",
        f"--kubelet-client-key={plan.pki('apiserver-kubelet-client', 'key')}",
        f"--kubelet-certificate-authority={plan.pki('ca')}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer=https://kubernetes.default.svc.{layout.CLUSTER_DOMAIN}",
        f"--service-account-key-file={plan.pki('sa', 'pub')}",
        f"--service-account-signing-key-file={plan.pki('sa', 'key')}",
        "--authorization-mode=Node,RBAC",
        # the default plugins (PodSecurity among them) plus kubeadm's NodeRestriction
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true", "--profiling=false",
    ]


def _kubeconfig_flags(plan: Plan, user: str) -> list[str]:
    path = str(plan.state.kubeconfig(user))
    return [f"--kubeconfig={path}", f"--authentication-kubeconfig={path}",
            f"--authorization-kubeconfig={path}"]


def kube_controller_manager(plan: Plan) -> list[str]:
    return [
        plan.bin("kube-controller-manager"), *_kubeconfig_flags(plan, "controller-manager"),
        "--bind-address=127.0.0.1", "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={plan.pki('sa', 'key')}",
        f"--root-ca-file={plan.pki('ca')}",
        f"--cluster-signing-cert-file={plan.pki('ca')}",
        f"--cluster-signing-key-file={plan.pki('ca', 'key')}",
        # pod addresses come from the CNI bridge's own range, not from a node podCIDR
        "--allocate-node-cidrs=false",
        f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
    ]


def kube_scheduler(plan: Plan) -> list[str]:
    return [plan.bin("kube-scheduler"), *_kubeconfig_flags(plan, "scheduler"),
            "--bind-address=127.0.0.1", "--leader-elect=false"]


def containerd(plan: Plan) -> list[str]:
    return [plan.bin("containerd"), "--config", plan.etc("containerd.toml")]


def kubelet(plan: Plan) -> list[str]:
    return [plan.bin("kubelet"), f"--config={plan.etc('kubelet.yaml')}",
            f"--kubeconfig={plan.state.kubeconfig('kubelet')}",
            f"--hostname-override={plan.node}", f"--node-ip={layout.NODE_IP}"]


def kube_proxy(plan: Plan) -> list[str]:
    return [plan.bin("kube-proxy"), f"--config={plan.etc('kube-proxy.yaml')}",
            f"--hostname-override={plan.node}"]


# Start order; `down` stops them in reverse.
ORDER: tuple[Component, ...] = (
    Component("registry", registry),
    Component("etcd", etcd),
    Component("kube-apiserver", kube_apiserver),
    Component("kube-controller-manager", kube_controller_manager),
    Component("kube-scheduler", kube_scheduler),
    Component("containerd", containerd),
    Component("kubelet", kubelet),
    Component("kube-proxy", kube_proxy),
)
