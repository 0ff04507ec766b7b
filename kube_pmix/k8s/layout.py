"""Where a real-Kubernetes test bed keeps its state, and the names and addresses it uses.

Everything of cluster NAME lives in one state directory on disk (containerd's
images and the registry's blobs are too big for /run), so `down` finds and
removes whatever a crashed run left. The addresses are private ones, and they
only ever exist inside the cluster's own network namespace (`kpk-NAME`); this
machine sees the API server and the registry through loopback relays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

STATE_ROOT = Path(os.environ.get("KUBE_PMIX_K8S_STATE_ROOT", "/var/lib/kube-pmix/k8s"))
NETNS_PREFIX = "kpk-"
CGROUP_PREFIX = "kube-pmix-k8s-"

# Inside the cluster's network namespace.
NODE_IP = IPv4Address("10.250.0.1")
POD_CIDR = IPv4Network("10.244.0.0/16")
SERVICE_CIDR = IPv4Network("10.96.0.0/16")
API_SERVICE_IP = IPv4Address("10.96.0.1")    # the `kubernetes` Service: first address of the range
DNS_SERVICE_IP = IPv4Address("10.96.0.10")
API_PORT = 6443
ETCD_PORT = 2379                             # on the namespace's own loopback
REGISTRY_PORT = 5000
REGISTRY_NAME = "registry.kube-pmix.local"   # the local cluster's registry has the same name
CLUSTER_DOMAIN = "cluster.local"


def netns_name(name: str) -> str:
    return f"{NETNS_PREFIX}{name}"


def cgroup_root(name: str) -> str:
    """The kubelet's cgroupRoot; the control plane runs in `<root>/control-plane` beside it."""
    return f"/{CGROUP_PREFIX}{name}"


def node_name(name: str) -> str:
    return f"{name}-node"


# Paths a real node keeps its state in. Inside the cluster's mount namespace each is a
# bind mount of a folder of the state directory (or a tmpfs), so the components run
# with their defaults, as on a real node, and this machine's own folders stay as they
# were: only an empty mount point is created where none existed.
NODE_MOUNTS: tuple[tuple[str, str], ...] = (
    ("/var/lib/kubelet", "kubelet"),
    ("/var/log/pods", "log/pods"),
    ("/var/log/containers", "log/containers"),
    ("/var/lib/containerd", "containerd/lib"),
    ("/etc/cni/net.d", "cni/net.d"),
    ("/var/lib/cni", "cni/lib"),
)
NODE_TMPFS: tuple[str, ...] = ("/run/containerd",)


@dataclass(frozen=True)
class StateDir:
    """Paths inside the state directory of one cluster."""

    root: Path

    @classmethod
    def of(cls, name: str) -> StateDir:
        return cls(STATE_ROOT / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def daemon_pid(self) -> Path:
        return self.root / "daemon.pid"

    @property
    def ready(self) -> Path:
        """Written by the daemon once every component answers: `up` waits for it."""
        return self.root / "ready.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    def kubeconfig(self, user: str) -> Path:
        return self.kubeconfigs / f"{user}.kubeconfig"

    @property
    def admin_kubeconfig(self) -> Path:
        """The kubeconfig for this machine: the API server through its loopback relay."""
        return self.kubeconfig("admin")

    @property
    def etc(self) -> Path:
        """Configuration files of the components (generated at `up`)."""
        return self.root / "etc"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def registry_data(self) -> Path:
        return self.root / "registry"

    @property
    def images(self) -> Path:
        """OCI archives of the images made here (the sandbox, CoreDNS)."""
        return self.root / "images"

    @property
    def containerd_socket(self) -> Path:
        return Path("/run/containerd/containerd.sock")  # inside the cluster's mount namespace

    def node_dir(self, relative: str) -> Path:
        return self.root / "node" / relative
