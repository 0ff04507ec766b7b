"""prterun through plm/k8sgo on the folder's 16 pods: no set-up bound to deadlock on, nothing left.

A flat plm/ssh launch of more daemons than `plm_ssh_num_concurrent` deadlocks
(README, Known limits): PRRTE starts the next agent only when one returns, and
none returns before every daemon is up. The launcher's own bound
(`--concurrency`) is on set-ups in flight, never on running daemons, so a bound
far below N must still start them all. The big sizes (256, 512 pods, above
PRRTE's 128) are bench.scale's; this is the size CI can afford. The folder's
cluster cuts exec sessions idle for 3 s: the launcher's heartbeats (every second
here, through prterun's environment) keep the daemons' sessions open.

Left behind is checked everywhere a job puts something: each compute pod's
processes, /tmp and /dev/shm (PRRTE's and PMIx's session files), the login pod's
launcher, prterun and host list, and the API server's exec sessions (its
descriptors and threads back to what they were).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from bench.scale.sampler import fd_count, threads
from kube_pmix.local.cluster import daemon_pid
from tests.e2e.jobs import run_job
from tests.e2e.k8sgo_jobs import k8sgo_prologue, leftovers
from tests.fixtures.k8sgo import wait_nothing_left

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]


# A checkout under /tmp (a clone made there) is bound back into each pod's private /tmp, at
# its own path (kube_pmix/local/pause.py): the pods run it. That entry is not a job's.
REPO = Path(__file__).resolve().parents[3]
CHECKOUT_IN_TMP = {REPO.relative_to("/tmp").parts[0]} if REPO.is_relative_to("/tmp") else set()


def session_files(cluster: Any, pods: list[str]) -> dict[str, str]:
    """Per pod, what its private /tmp and /dev/shm still hold."""
    found = {}
    for pod in pods:
        listed = cluster.pod_exec(pod, "ls -A /tmp /dev/shm", user="root").stdout
        entries = [line for line in listed.splitlines()
                   if line.strip() and not line.endswith(":") and line not in CHECKOUT_IN_TMP]
        if entries:
            found[pod] = " ".join(entries)
    return found


def api_settles(pid: int, fds: int, nthreads: int, within: float = 20) -> tuple[int, int]:
    """The API server's (descriptors, threads) once back to at most what they were."""
    deadline = time.monotonic() + within
    now = (fd_count(pid), threads(pid))
    while (now[0] > fds or now[1] > nthreads) and time.monotonic() < deadline:
        time.sleep(0.25)
        now = (fd_count(pid), threads(pid))
    return now


def test_a_set_up_bound_of_2_starts_all_16_daemons_and_leaves_nothing(
        k8sgo_cluster: Any, prrte_k8sgo: Any) -> None:
    pods = k8sgo_cluster.compute_pods
    api = daemon_pid(k8sgo_cluster.state)
    assert api is not None
    before = (fd_count(api), threads(api))
    result = run_job(k8sgo_cluster,
                     k8sgo_prologue({"launch_args": "--concurrency 2"},
                                    env={"K8SGO_HEARTBEAT_INTERVAL": "1"})
                     + "prterun --map-by ppr:1:node hostname", hang_after=240)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(pods)
    assert leftovers(k8sgo_cluster, pods) == {}
    assert wait_nothing_left(k8sgo_cluster, pods, 30) == {}
    assert session_files(k8sgo_cluster, [*pods, k8sgo_cluster.login_pod]) == {}
    fds, nthreads = api_settles(api, *before)
    assert fds <= before[0] and nthreads <= before[1], (before, (fds, nthreads))


def test_every_rank_yields_when_idle_on_the_shared_cores(
        k8sgo_cluster: Any, prrte_k8sgo: Any) -> None:
    """The local cluster's pods share the machine's cores: its ranks must not busy-poll one
    each (docs/scaling.md). They inherit the setting from their daemon's pod environment."""
    pods = k8sgo_cluster.compute_pods
    result = run_job(k8sgo_cluster, k8sgo_prologue(env={"K8SGO_HEARTBEAT_INTERVAL": "1"})
                     + "prterun --map-by ppr:1:node env",
                     hang_after=240)
    assert result.returncode == 0, result.stderr
    hosts = [line.split("=", 1)[1] for line in result.stdout.splitlines()
             if line.startswith("HOSTNAME=")]
    assert sorted(hosts) == sorted(pods)
    assert result.stdout.splitlines().count("OMPI_MCA_mpi_yield_when_idle=1") == len(pods)
