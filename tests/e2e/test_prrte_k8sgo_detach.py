"""plm_k8sgo_detach: the exec sessions end once PRRTE's daemons are wired up.

With `PRTE_MCA_plm_k8sgo_detach=true` plm/k8sgo passes `--detachable` to the
launcher and, at ALL DAEMONS REPORTED, sends it SIGUSR1: every guard ends its
exec session with status 0 and stays in its pod, below no session, reaping its
daemon; the launcher exits 0. From then on each daemon lives by PRRTE's own TCP
connections (docs/scaling.md), so the job must still end, and leave nothing,
when prterun or a daemon is lost.

"Held session" is seen in the pods: while it is held, a daemon's pod runs two
kubexec-guard processes (the exec's own process, the sentinel, and the guard it
forked); once detached, one (the guard).
"""

from __future__ import annotations

import signal
import subprocess
from typing import Iterator

import pytest

from tests.e2e.k8sgo_jobs import (
    ENDS_WITHIN,
    Background,
    end_job,
    k8sgo_prologue,
    kill_in_pod,
    launchers_left,
    leftovers,
    pids_named,
    start_sleeping_job,
    wait_for,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]

NODES = 3
DETACH = k8sgo_prologue({"detach": "true"})
GUARD = "kubexec-guard"
READY, GO = "/tmp/kp-detach-ready", "/tmp/kp-detach-go"


@pytest.fixture(scope="module")
def detach_cluster(prrte_k8sgo) -> Iterator:
    from tests.fixtures.cluster import own_cluster

    with own_cluster("kp-k8sgo-detach", NODES) as cluster:
        yield cluster


def guards_in(cluster, hosts) -> dict[str, int]:
    return {pod: len(pids) for pod, pids in pids_named(cluster, hosts, GUARD).items()}


def one_each(hosts) -> dict[str, int]:
    return {pod: 1 for pod in hosts}


def detached(cluster, hosts) -> bool:
    """The launcher is gone and every daemon's pod keeps one guard, no session."""
    return not launchers_left(cluster) and guards_in(cluster, hosts) == one_each(hosts)


def start_detached_job(cluster, hosts):
    """`sleep 60` on each host, once every rank runs and every session has ended."""
    job = start_sleeping_job(cluster, hosts, DETACH)
    if not wait_for(lambda: detached(cluster, hosts), ENDS_WITHIN):
        end_job(cluster)
        pytest.fail(f"not detached: launcher {launchers_left(cluster)}, "
                    f"guards {guards_in(cluster, hosts)}")
    return job


def test_the_sessions_end_once_the_daemons_are_wired_up(detach_cluster):
    """The ranks wait for a file the test makes only once it has seen every session end:
    so the job is known to run on, detached, and then to end as usual."""
    cluster = detach_cluster
    hosts = cluster.compute_pods
    rank = f"touch {READY}; while [ ! -e {GO} ]; do sleep 0.1; done; hostname"
    job = Background(cluster, DETACH + f"prterun --host {','.join(hosts)} "
                     f"--map-by ppr:1:node sh -c '{rank}'")
    try:
        ready = wait_for(lambda: all(
            cluster.pod_exec(pod, f"test -e {READY}").returncode == 0 for pod in hosts), 60)
        assert ready, "the ranks did not start"
        assert wait_for(lambda: detached(cluster, hosts), ENDS_WITHIN), (
            launchers_left(cluster), guards_in(cluster, hosts))
        prteds = {pod: len(pids) for pod, pids in pids_named(cluster, hosts, "prted").items()}
        assert prteds == one_each(hosts)
    finally:
        for pod in hosts:
            cluster.pod_exec(pod, f"touch {GO}")
    result = job.wait(ENDS_WITHIN, "the ranks were let go")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(hosts)
    assert f"detached from {len(hosts)} daemons" in result.stderr, result.stderr
    assert leftovers(cluster, hosts) == {}
    assert wait_for(lambda: not guards_in(cluster, hosts), ENDS_WITHIN)
    for pod in hosts:
        cluster.pod_exec(pod, f"rm -f {READY} {GO}")


def test_prterun_killed_after_the_detach_leaves_nothing(detach_cluster):
    """No launcher and no session is left to end the daemons: each must end by losing
    prterun's connection, and its guard with it."""
    cluster = detach_cluster
    hosts = cluster.compute_pods[:2]
    job = start_detached_job(cluster, hosts)
    prterun = kill_in_pod(cluster, cluster.login_pod, "prterun", signal.SIGKILL)
    assert len(prterun) == 1, prterun
    result = job.wait(ENDS_WITHIN, "it was killed")
    assert result.returncode != 0
    assert leftovers(cluster, hosts, within=ENDS_WITHIN) == {}
    assert wait_for(lambda: not guards_in(cluster, hosts), ENDS_WITHIN)


def test_a_daemon_lost_after_the_detach_fails_the_job(detach_cluster):
    """What the launcher no longer sees, PRRTE does: a daemon killed mid-job fails the run
    (not exit 0), and the other daemons and ranks end."""
    cluster = detach_cluster
    hosts = cluster.compute_pods[1:]
    victim = hosts[0]
    job = start_detached_job(cluster, hosts)
    assert len(kill_in_pod(cluster, victim, "prted", signal.SIGKILL)) == 1
    result: subprocess.CompletedProcess[str] = job.wait(ENDS_WITHIN, f"{victim}'s prted was killed")
    assert result.returncode != 0, result.stderr
    assert leftovers(cluster, hosts, within=ENDS_WITHIN) == {}
    assert wait_for(lambda: not guards_in(cluster, hosts), ENDS_WITHIN)
