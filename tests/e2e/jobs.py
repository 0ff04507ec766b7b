"""Running PRRTE jobs in the login pod, and finding the daemons they leave.

A job that does not end within `hang_after` seconds fails the test, after its
launcher has been killed in the pod so that the next test starts clean (kubexec
then ends the remote daemons). PRRTE 3.0 used to hang here at the end of jobs
whose ranks exit within a millisecond of being forked (`hostname`): about one
run in three, until the pods' environment set PRTE_MCA_odls_base_max_threads=0
(see kube_pmix/local/podenv.py). These tests are what shows that it holds.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def named_pids(cluster, pods, comm: str) -> dict[str, list[int]]:
    """Processes called `comm` alive, per pod."""
    found: dict[str, list[int]] = {}
    for pod in pods:
        for pid in cluster.pod_pids(pod):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if name == comm:
                found.setdefault(pod, []).append(pid)
    return found


def prted_pids(cluster, pods) -> dict[str, list[int]]:
    """prted processes alive, per pod."""
    return named_pids(cluster, pods, "prted")


def wait_none_named(cluster, pods, comm: str, timeout: float = 30) -> dict[str, list[int]]:
    """What is still called `comm` after at most `timeout` seconds: {} once all are gone."""
    deadline = time.monotonic() + timeout
    left = named_pids(cluster, pods, comm)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = named_pids(cluster, pods, comm)
    return left


def wait_no_prted(cluster, pods, timeout: float = 30) -> dict[str, list[int]]:
    return wait_none_named(cluster, pods, "prted", timeout)


def run_job(cluster, command: str, *, hang_after: float = 90,
            launcher: str = "prterun") -> subprocess.CompletedProcess[str]:
    """Run `command` with bash in the login pod as the pod user."""
    try:
        return cluster.pod_exec(
            cluster.login_pod, ["/bin/bash", "-c", command], timeout=hang_after
        )
    except subprocess.TimeoutExpired as exc:
        cluster.pod_exec(cluster.login_pod, ["pkill", "-x", launcher], timeout=30)
        wait_no_prted(cluster, cluster.compute_pods)
        raise AssertionError(f"{command!r} did not end within {hang_after:.0f} s") from exc


def end_dvm(cluster) -> None:
    """After a DVM test, passed or failed: no `prte` left in the login pod, nor its session
    directory. A `prte` killed outright cannot remove it, and the next DVM's `prun` would
    then read two servers' pmix.* files and refuse to choose ("PMIx has found multiple
    possible servers"): one failed test would fail every DVM test after it."""
    cluster.pod_exec(cluster.login_pod, ["pkill", "-x", "prte"], timeout=30)  # it tidies up
    if wait_none_named(cluster, [cluster.login_pod], "prte", 10):
        cluster.pod_exec(cluster.login_pod, ["pkill", "-KILL", "-x", "prte"], timeout=30)
        wait_none_named(cluster, [cluster.login_pod], "prte", 10)
    cluster.pod_exec(cluster.login_pod, ["/bin/sh", "-c", 'rm -rf "${TMPDIR:-/tmp}"/prte.*'],
                     timeout=30)


def detached_before_ranks(stderr: str, pods) -> bool:
    """A detached job's stderr, whose ranks each print their pod's name there after a sleep:
    every pod's line once, and the launcher's one "detached from N daemons" line before any
    of them (the sessions ended while the ranks still ran)."""
    lines = stderr.splitlines()
    detached = [i for i, line in enumerate(lines) if f"detached from {len(pods)} daemons" in line]
    ranks = [i for i, line in enumerate(lines) if line in pods]
    return (sorted(lines[i] for i in ranks) == sorted(pods) and len(detached) == 1
            and detached[0] < min(ranks))
