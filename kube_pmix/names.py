"""The virtual cluster's names and labels, in one place.

The manifests (`manifests/base`), the local cluster, the virtual-cluster tools
and wait-for-pods all rely on them; they are read from here, and a test checks
that the rendered manifests say the same. Plain constants: importing this costs
nothing (wait-for-pods and kubexec import it).
"""

from __future__ import annotations

NAMESPACE = "kube-pmix"
SERVICE = "hpc-cluster"  # the headless service: pod DNS names pod.hpc-cluster.<namespace>
SERVICE_ACCOUNT = "hpc-cluster"  # the pods' identity; its Role and RoleBinding share the name
STATEFULSET = "hpc-cn"  # compute pods hpc-cn-0 .. hpc-cn-<replicas-1>
LOGIN_JOB = "hpc-cluster-login"  # its pod: hpc-cluster-login-<random>, hostname = LOGIN_JOB
SSH_SECRET = "hpc-cluster-ssh"

COMPUTE_CONTAINER = "hpc-node"
LOGIN_CONTAINER = "hpc-login"
WAITER_CONTAINER = "job-waiter"

CLUSTER_LABEL = "kube-pmix.dev/cluster"  # on every pod, value SERVICE
COMPUTE_LABELS = {"app": "hpc-compute-nodes", "hpcnode": "compute-node"}
LOGIN_LABELS = {"app": "hpc-login", "hpcnode": "login-node"}


def selector(labels: dict[str, str]) -> str:
    """`k=v,k=v`: a label selector matching every label of `labels`."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


COMPUTE_SELECTOR = selector(COMPUTE_LABELS)
LOGIN_SELECTOR = selector(LOGIN_LABELS)

POD_USER = "mpiuser"
POD_UID = 10001  # in the images; the local cluster uses the host's mpiuser, whatever its uid
