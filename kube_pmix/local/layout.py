"""Where a local cluster keeps its state, and the names it gives to kernel objects.

Everything of cluster NAME lives in one state directory (under /run: it is
gone after a reboot, as the namespaces are), so `down` can find and remove
whatever a crashed run left behind.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from kube_pmix.names import NAMESPACE as NAMESPACE
from kube_pmix.names import POD_USER as POD_USER
from kube_pmix.names import SERVICE as SERVICE
from kube_pmix.names import SERVICE_ACCOUNT as SERVICE_ACCOUNT

API_PORT_IN_CLUSTER = 443
STATE_ROOT = Path(os.environ.get("KUBE_PMIX_STATE_ROOT", "/run/kube-pmix"))
NETNS_PREFIX = "kp-"
# In-pod paths: the hostfiles and the service-account files, as in the paper's pods.
POD_HPC_ROOT = "/opt/hpc"
POD_HPC_ETC = "/opt/hpc/etc"
# The seed's paths of the PRRTE with plm/k8sgo and of the k8sgo launcher (as in the images).
POD_PRRTE = "/opt/hpc/local/prrte"
POD_BASIC_LAUNCHER = "/opt/hpc/bin/basic_launcher"
POD_SECRETS_ROOT = "/run/secrets"
POD_SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# Where rootless podman looks for per-registry CA files (after the user's own).
POD_CERTS_D = "/etc/containers/certs.d"


def venv_dir() -> Path:
    """The environment kube-pmix runs from: its bin/ holds python, kubexec and prterun."""
    return Path(sys.executable).parent.parent


def prrte_install() -> Optional[Path]:
    """The PRRTE with plm/k8sgo that `make prrte-k8sgo` built beside the venv (or the one
    KUBE_PMIX_PRRTE names), if there is one: the pods' PRRTE."""
    named = os.environ.get("KUBE_PMIX_PRRTE")
    prefix = Path(named) if named else venv_dir().parent / "build" / "prrte-k8sgo" / "install"
    return prefix if (prefix / "bin" / "prted").is_file() else None


def bridge_netns(name: str) -> str:
    """Name of the network namespace that holds the cluster's bridge and in-cluster listener."""
    return f"{NETNS_PREFIX}{name}"


@dataclass(frozen=True)
class StateDir:
    """Paths inside the state directory of one cluster."""

    root: Path

    @classmethod
    def of(cls, name: str) -> StateDir:
        return cls(STATE_ROOT / name)

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def pods(self) -> Path:
        """Pods as the daemon last saw them (pids, IPs): read by the fixture and `down`."""
        return self.root / "pods.json"

    @property
    def daemon_pid(self) -> Path:
        return self.root / "daemon.pid"

    @property
    def owner(self) -> Path:
        """Pid of the process that ran `up` (lets concurrent test sessions avoid each other)."""
        return self.root / "owner.pid"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def restricted_kubeconfig(self) -> Path:
        return self.root / "restricted-kubeconfig"

    @property
    def restricted_token(self) -> Path:
        return self.root / "restricted-token"

    @property
    def rbac(self) -> Path:
        """The rendered manifests' RBAC objects (JSON list): what the pods' account may do."""
        return self.root / "rbac.json"

    @property
    def sa_kubeconfig(self) -> Path:
        """A kubeconfig with the pods' service-account token: run tools from the host under
        the Role the manifests give the pods."""
        return self.root / "service-account-kubeconfig"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def hosts(self) -> Path:
        """Bind-mounted as every pod's /etc/hosts: rewrite in place, never replace."""
        return self.root / "hosts"

    @property
    def profile(self) -> Path:
        """Bind-mounted as every pod's /etc/profile: the host's, then the tools back on PATH."""
        return self.root / "profile"

    @property
    def hpc_etc(self) -> Path:
        """Bind-mounted as every pod's /opt/hpc/etc (hostfile, hostfile_ip)."""
        return self.root / "hpc-etc"

    @property
    def registry(self) -> Path:
        """The image registry's folder: config, TLS files, log, and its data below."""
        return self.root / "registry"

    @property
    def registry_config(self) -> Path:
        return self.registry / "config.yml"

    @property
    def certs_d(self) -> Path:
        """Bind-mounted as every pod's /etc/containers/certs.d: podman trusts the registry."""
        return self.root / "certs.d"

    @property
    def service_account(self) -> Path:
        """Bind-mounted at the in-pod service-account path (token, ca.crt, namespace)."""
        return self.root / "serviceaccount"
