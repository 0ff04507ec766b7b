"""plm/k8sgo and ess/k8sgo when things go wrong: the run ends, says where, leaves nothing.

One 4-pod cluster for the module; each test uses its own hosts (`--host`), so
a pod deleted by one test is not one another test needs. "Nothing left" is:
no prted and no rank in the pods, no launcher and no host file in the login pod.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.k8sgo_jobs import (
    LAUNCHER_NAME,
    k8sgo_prologue,
    kill_in_pod,
    launchers_left,
    leftovers,
    pids_named,
    pids_running,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]

NODES = 4
ENDS_WITHIN = 30.0
BAD_ID_LAUNCHER = Path(__file__).resolve().with_name("bad_id_launcher.sh")


@pytest.fixture(scope="module")
def fragile_cluster() -> Iterator:
    from tests.fixtures.cluster import _down, _up, require_root

    require_root()
    name = f"kp-k8sgo-fail-{os.getpid() % 10000}"
    cluster = _up(name, NODES, None)
    try:
        yield cluster
    finally:
        _down(name)


def in_login(cluster, command: str, timeout: float = ENDS_WITHIN):
    return cluster.pod_exec(cluster.login_pod, ["/bin/bash", "-c", command], timeout=timeout)


def end_job(cluster) -> None:
    """After a test that failed: no prterun of ours may outlive it."""
    kill_in_pod(cluster, cluster.login_pod, "prterun")


class Background:
    """A prterun started in the login pod; `wait(within)` its result, or fail the test."""

    def __init__(self, cluster, command: str) -> None:
        self.cluster = cluster
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.future = self.pool.submit(in_login, cluster, command, 300)

    def wait(self, within: float, what: str) -> subprocess.CompletedProcess[str]:
        try:
            return self.future.result(timeout=within)
        except concurrent.futures.TimeoutError:
            end_job(self.cluster)
            pytest.fail(f"prterun did not exit within {within:.0f} s after {what}")
        finally:
            self.pool.shutdown(wait=True)


def start_sleeping_job(cluster, prefix: Path, hosts: list[str]) -> Background:
    """`sleep 60` on each host, once every rank runs."""
    job = Background(cluster, k8sgo_prologue(prefix)
                     + f"prterun --host {','.join(hosts)} --map-by ppr:1:node sleep 60")
    running = wait_for(lambda: len(pids_named(cluster, hosts, "sleep")) == len(hosts), 60)
    if not running:
        end_job(cluster)
        pytest.fail(f"the ranks did not start on {hosts}: {job.wait(30, 'the start')}")
    return job


def test_pod_missing_at_launch(fragile_cluster, prrte_k8sgo: Path):
    cluster = fragile_cluster
    hosts = [cluster.compute_pods[0], cluster.compute_pods[3]]
    victim = hosts[1]
    cluster.delete_pod(victim)
    try:
        result = in_login(cluster, k8sgo_prologue(prrte_k8sgo)
                          + f"prterun --host {','.join(hosts)} --map-by ppr:1:node hostname")
    except subprocess.TimeoutExpired:
        end_job(cluster)
        pytest.fail(f"prterun did not exit within {ENDS_WITHIN:.0f} s with {victim} missing")
    assert result.returncode != 0
    assert victim in result.stderr, result.stderr
    assert leftovers(cluster, hosts[:1]) == {}


def test_pod_deleted_mid_job(fragile_cluster, prrte_k8sgo: Path):
    cluster = fragile_cluster
    hosts = [cluster.compute_pods[0], cluster.compute_pods[2]]
    victim = hosts[1]
    job = start_sleeping_job(cluster, prrte_k8sgo, hosts)
    cluster.delete_pod(victim)
    result = job.wait(ENDS_WITHIN, f"{victim} was deleted")
    assert result.returncode != 0, result.stderr
    assert victim in result.stdout + result.stderr, result.stderr
    assert leftovers(cluster, hosts[:1]) == {}


def test_launcher_killed(fragile_cluster, prrte_k8sgo: Path):
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    job = start_sleeping_job(cluster, prrte_k8sgo, hosts)
    launcher = pids_running(cluster, cluster.login_pod, LAUNCHER_NAME)
    assert len(launcher) == 1, launcher
    killed = time.monotonic()
    os.kill(launcher[0], signal.SIGKILL)
    result = job.wait(ENDS_WITHIN, "its launcher was killed")
    assert result.returncode != 0
    assert "was killed by signal 9" in result.stderr, result.stderr
    assert all(pod in result.stderr for pod in hosts), result.stderr
    assert time.monotonic() - killed < ENDS_WITHIN
    assert leftovers(cluster, hosts) == {}


@pytest.mark.parametrize("bad_id, says", [
    ("unset", "has no PRTE_ESS_K8SGO_ID in its environment"),
    ("two", 'has PRTE_ESS_K8SGO_ID="two", which is not a'),
    ("7", "has PRTE_ESS_K8SGO_ID=7, which is out of range"),
])
def test_ess_refuses_a_bad_id(fragile_cluster, prrte_k8sgo: Path, bad_id: str, says: str):
    """A launcher that gets the id wrong: every daemon says so, and the run ends."""
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    prologue = k8sgo_prologue(prrte_k8sgo, {"launch_script": str(BAD_ID_LAUNCHER)},
                              env={"BAD_ID": bad_id})
    try:
        result = in_login(cluster, prologue
                          + f"prterun --host {','.join(hosts)} --map-by ppr:1:node hostname")
    except subprocess.TimeoutExpired:
        end_job(cluster)
        pytest.fail(f"prterun hung with PRTE_ESS_K8SGO_ID {bad_id}")
    assert result.returncode != 0
    assert says in result.stderr, result.stderr
    # the first daemon to refuse ends the launch: at least its pod is named
    assert any(f"daemon on {pod} has" in result.stderr for pod in hosts), result.stderr
    assert not launchers_left(cluster)
    assert leftovers(cluster, hosts) == {}
