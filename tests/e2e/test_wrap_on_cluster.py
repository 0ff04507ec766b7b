"""Each MPI rank in its own rootless podman container, across the local cluster's pods.

The seed README's flow, run inside the login pod as the pod user: load the
application image once per node with `prterun --map-by ppr:1:node`, then
`prterun --map-by ppr:2:node -x MPI_IMAGE wrap-container init_finalize`.
No registry is reachable, so the image is a root filesystem made from this
host's files (wrap.localimage) and the MPI install is bind-mounted into it.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path

import pytest

from wrap.localimage import write_rootfs

pytestmark = [pytest.mark.cluster, pytest.mark.mpi, pytest.mark.podman]

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
IMAGE = "localhost/kube-pmix-e2e-mpi:latest"


def in_login(cluster, command: str, timeout: float = 300):
    return cluster.pod_exec(cluster.login_pod, ["/bin/bash", "-c", command], timeout=timeout)


def containers(cluster) -> dict[str, str]:
    """`podman ps -a` per compute pod, for pods that have any container."""
    found = {}
    for pod in cluster.compute_pods:
        proc = cluster.pod_exec(
            pod, ["podman", "ps", "-a", "--format", "{{.ID}} {{.Status}}"], timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        if proc.stdout.strip():
            found[pod] = proc.stdout.strip()
    return found


def containers_left(cluster, timeout: float = 30) -> dict[str, str]:
    """Containers still there after `timeout` s: --rm removes them as their ranks end."""
    deadline = time.monotonic() + timeout
    left = containers(cluster)
    while left and time.monotonic() < deadline:
        time.sleep(1)
        left = containers(cluster)
    return left


@pytest.fixture(scope="module")
def cluster_with_image(local_cluster, podman_user, init_finalize):
    """The session cluster with IMAGE loaded in every compute pod's own image store."""
    out = REPO / "build" / "images"
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    tarball = out / "e2e-mpi-rootfs.tar"
    programs = [str(p) for p in (VENV / "bin").glob("prte*")] + [str(init_finalize)]
    write_rootfs(tarball, programs, skip_prefixes=[str(VENV)])
    tarball.chmod(0o644)
    load = in_login(
        local_cluster,
        f"prterun --map-by ppr:1:node podman import -q {tarball} {IMAGE}",
    )
    assert load.returncode == 0, load.stdout + load.stderr
    yield local_cluster
    for pod in local_cluster.compute_pods:
        local_cluster.pod_exec(pod, ["podman", "rmi", "-f", IMAGE], timeout=120)
    tarball.unlink(missing_ok=True)


def wrapped_job(args: str) -> str:
    mounts = f"--volume={VENV}:{VENV}:ro --volume={REPO / 'build'}:{REPO / 'build'}:ro"
    return (
        f"export MPI_IMAGE={IMAGE} CONTAINER_ARGS={shlex.quote(mounts)}; "
        f"prterun --personality ompi --map-by ppr:2:node -x MPI_IMAGE -x CONTAINER_ARGS "
        f"wrap-container {args}"
    )


def test_every_rank_in_its_own_container(cluster_with_image, init_finalize):
    cluster = cluster_with_image
    result = in_login(cluster, wrapped_job(f"{init_finalize} -r"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\s*0\) Size: 10 \(Running\)$", result.stdout, re.M), result.stdout
    ranks = re.findall(r"^rank (\d+)/10 host (\S+) mntns (\S+)$", result.stdout, re.M)
    assert sorted(int(rank) for rank, _, _ in ranks) == list(range(10))
    # a container is a mount namespace of its own: ten ranks, ten namespaces,
    # none of them the pods' own
    namespaces = {mntns for _, _, mntns in ranks}
    assert len(namespaces) == 10
    pod_namespaces = {
        cluster.pod_exec(pod, ["readlink", "/proc/self/ns/mnt"]).stdout.strip()
        for pod in cluster.compute_pods
    }
    assert not namespaces & pod_namespaces
    hosts = sorted(host for _, host, _ in ranks)
    assert hosts == sorted(cluster.compute_pods * 2)
    assert containers_left(cluster) == {}


def test_failing_rank_fails_the_job(cluster_with_image, init_finalize):
    cluster = cluster_with_image
    result = in_login(cluster, wrapped_job(f"{init_finalize} -e 3"))
    assert result.returncode != 0
    assert "exiting with 3 on purpose" in result.stdout + result.stderr
    assert containers_left(cluster) == {}
