"""The plan of one cluster: its name, the binaries and every path the components are given.

Built once by `up` (and again by the daemon from the saved config), so the
argument and configuration builders are pure functions of a `Plan`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import layout
from .errors import MissingBuildError

# Upstream components, as `make k8s` names them in build/k8s/bin.
BUILT = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
         "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "crictl", "coredns",
         "pause")
# From Debian's packages (scripts/install-system-deps.sh).
SYSTEM = {"runc": "/usr/sbin/runc", "iptables": "/usr/sbin/iptables",
          "docker-registry": "/usr/bin/docker-registry", "cni": "/usr/lib/cni/bridge"}
CNI_BIN_DIR = "/usr/lib/cni"


def default_bin_dir() -> Path:
    """build/k8s/bin of the checkout kube-pmix runs from, unless KUBE_PMIX_K8S_BIN says."""
    env = os.environ.get("KUBE_PMIX_K8S_BIN")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "build" / "k8s" / "bin"


def check_binaries(bin_dir: Path) -> None:
    """One line naming what is missing and the command that makes it."""
    missing = [b for b in BUILT if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        raise MissingBuildError(
            f"{', '.join(missing)} not built in {bin_dir}: run `make k8s` (needs Go and the "
            "Go module proxy)")
    absent = [f"{name} ({path})" for name, path in SYSTEM.items() if not os.access(path, os.X_OK)]
    if absent:
        raise MissingBuildError(f"missing system packages: {', '.join(absent)}: run "
                                "`make system-deps` (scripts/install-system-deps.sh)")


@dataclass(frozen=True)
class Plan:
    name: str
    state: layout.StateDir
    bin_dir: Path
    api_port: int        # on this machine's loopback, relayed to the API server
    registry_port: int   # on this machine's loopback, relayed to the registry
    max_pods: int = 256

    @property
    def node(self) -> str:
        return layout.node_name(self.name)

    @property
    def netns(self) -> str:
        return layout.netns_name(self.name)

    @property
    def cgroup_root(self) -> str:
        return layout.cgroup_root(self.name)

    @property
    def api_in_cluster(self) -> str:
        return f"https://{layout.NODE_IP}:{layout.API_PORT}"

    @property
    def api_here(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def registry_in_cluster(self) -> str:
        return f"{layout.REGISTRY_NAME}:{layout.REGISTRY_PORT}"

    @property
    def registry_here(self) -> str:
        return f"127.0.0.1:{self.registry_port}"

    def bin(self, name: str) -> str:
        return str(self.bin_dir / name)

    def pki(self, stem: str, ext: str = "crt") -> str:
        return str(self.state.pki / f"{stem}.{ext}")

    def etc(self, name: str) -> str:
        return str(self.state.etc / name)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "bin_dir": str(self.bin_dir), "api_port": self.api_port,
                "registry_port": self.registry_port, "max_pods": self.max_pods}

    @classmethod
    def from_json(cls, data: dict[str, object], state: layout.StateDir) -> Plan:
        return cls(name=str(data["name"]), state=state, bin_dir=Path(str(data["bin_dir"])),
                   api_port=int(str(data["api_port"])),
                   registry_port=int(str(data["registry_port"])),
                   max_pods=int(str(data.get("max_pods", 256))))
