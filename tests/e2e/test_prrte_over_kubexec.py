"""Real PRRTE and Open MPI across the local cluster's pods, with kubexec as the rsh agent.

Everything runs inside the login pod as the unprivileged pod user, exactly as a
user who typed `kubectl exec -it <login pod> -- bash` would: the pod's
environment already names kubexec (PRTE_MCA_plm_ssh_agent) and the hostfile
of the compute pods (PRTE_MCA_prte_default_hostfile).
"""

from __future__ import annotations

import collections
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.jobs import end_dvm, prted_pids, run_job, wait_no_prted, wait_none_named

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]


def test_hostname_twice_per_compute_pod(local_cluster):
    result = run_job(local_cluster, "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    counts = collections.Counter(result.stdout.split())
    assert counts == {pod: 2 for pod in local_cluster.compute_pods}
    assert wait_no_prted(local_cluster, local_cluster.compute_pods) == {}


def test_init_finalize_size_10(local_cluster, init_finalize):
    result = run_job(
        local_cluster, f"prterun --personality ompi --map-by ppr:2:node {init_finalize} -a"
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*0\) Size: 10 \(Running\)$", result.stdout, re.M), result.stdout
    nodes = len(local_cluster.compute_pods)
    assert re.search(rf"NP  :\s+10 procs \[\s+{nodes} Nodes at\s+2 PPN\]", result.stdout)


def test_persistent_dvm_prte_prun_pterm(local_cluster):
    started = run_job(local_cluster, "prte --daemonize")
    assert started.returncode == 0, started.stderr
    expected = collections.Counter(local_cluster.compute_pods)
    try:
        for _ in range(2):
            job = run_job(local_cluster, "prun --map-by ppr:1:node hostname", launcher="prun")
            assert job.returncode == 0, job.stderr
            assert collections.Counter(job.stdout.split()) == expected
        stopped = run_job(local_cluster, "pterm")
        assert stopped.returncode == 0, stopped.stderr
        # pterm's own work, before the clean-up below could do it instead
        assert wait_none_named(local_cluster, [local_cluster.login_pod], "prte") == {}
        assert wait_no_prted(local_cluster, local_cluster.compute_pods) == {}
    finally:
        # a failed attempt must not leave its DVM to the next one
        end_dvm(local_cluster)
        wait_no_prted(local_cluster, local_cluster.compute_pods)


def test_tree_spawn_runs_kubexec_from_compute_pods(local_cluster, tmp_path_factory):
    """With a routing radix of 1 the daemons form a chain, so each prted launches the next.

    The agent is a two-line script that records where it runs and then execs
    kubexec: a compute pod in the log proves kubexec worked from inside a pod.
    """
    log_dir = Path(local_cluster.venv).parent / "build" / "tree-spawn"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_dir.chmod(0o1777)
    log = log_dir / f"{local_cluster.name}.log"
    log.unlink(missing_ok=True)
    agent = log_dir / "logging-agent.sh"
    agent.write_text(f'#!/bin/sh\necho "$(hostname) $1" >> {log}\nexec kubexec "$@"\n')
    agent.chmod(0o755)
    try:
        result = run_job(
            local_cluster,
            f"prterun --prtemca plm_ssh_agent {agent} --prtemca routed_radix 1 "
            "--map-by ppr:1:node hostname",
        )
        assert result.returncode == 0, result.stderr
        assert sorted(result.stdout.split()) == sorted(local_cluster.compute_pods)
        sources = {line.split()[0] for line in log.read_text().splitlines()}
        assert sources & set(local_cluster.compute_pods), log.read_text()
    finally:
        log.unlink(missing_ok=True)


def test_deleted_pod_fails_fast_and_leaves_no_daemon(cluster_factory):
    cluster = cluster_factory(nodes=3)
    victim = cluster.compute_pods[1]
    cluster.delete_pod(victim)
    try:
        result = cluster.pod_exec(
            cluster.login_pod,
            ["/bin/bash", "-c", "prterun --map-by ppr:1:node hostname"],
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"prterun did not exit within 30 s after {victim} was deleted")
    assert result.returncode != 0
    assert victim in result.stdout + result.stderr
    survivors = [pod for pod in cluster.compute_pods if pod != victim]
    assert wait_no_prted(cluster, survivors) == {}


def _ranks(cluster, pods, mark: str) -> dict[str, list[int]]:
    """`sleep MARK` ranks alive, per pod."""
    found: dict[str, list[int]] = {}
    for pod in pods:
        for pid in cluster.pod_pids(pod):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", mark.encode()]:
                found.setdefault(pod, []).append(pid)
    return found


def test_pod_deleted_while_its_prted_runs_ends_the_job_and_leaves_nothing(cluster_factory):
    """The daemon is up and its rank running when the pod goes: prterun must notice, say
    which pod, exit non-zero within a bound, and the other pods' daemons and ranks go."""
    import threading
    import time

    mark, bound = "3143", 60.0
    cluster = cluster_factory(nodes=3)
    victim = cluster.compute_pods[1]
    result: dict[str, subprocess.CompletedProcess[str]] = {}

    def job() -> None:
        result["job"] = cluster.pod_exec(
            cluster.login_pod, ["/bin/bash", "-c", f"prterun --map-by ppr:1:node sleep {mark}"],
            timeout=bound + 60)

    runner = threading.Thread(target=job, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_ranks(cluster, cluster.compute_pods,
                                                         mark)) < 3:
            time.sleep(0.2)
        assert set(_ranks(cluster, cluster.compute_pods, mark)) == set(cluster.compute_pods)
        assert victim in prted_pids(cluster, [victim])
        deleted_at = time.monotonic()
        cluster.delete_pod(victim)
        runner.join(bound)
        took = time.monotonic() - deleted_at
        assert not runner.is_alive(), f"prterun still running {bound:.0f} s after {victim} went"
    finally:
        if runner.is_alive():  # leave nothing to the teardown's leftovers check
            cluster.pod_exec(cluster.login_pod, ["pkill", "-x", "prterun"], timeout=30)
            runner.join(30)
    done = result["job"]
    said = done.stdout + done.stderr
    assert f"on node {victim}" in said, said[-2000:]  # the pod is named
    survivors = [pod for pod in cluster.compute_pods if pod != victim]
    assert wait_no_prted(cluster, survivors) == {}
    assert _ranks(cluster, survivors, mark) == {}
    left_in_login = cluster.pod_exec(cluster.login_pod, "pgrep -u mpiuser -x 'prterun|kubexec'")
    assert left_in_login.stdout.strip() == ""
    print(f"prterun exited {done.returncode} {took:.1f} s after {victim} was deleted")
    if done.returncode == 0:
        # Seen every time with PRRTE 3.0 (Open MPI 5 wheel): it prints "PRTE has lost
        # communication with a remote daemon ... will terminate the job", ends every other
        # daemon and rank, and exits 0: its errmgr records the loss only on the daemon job
        # and ignores the agents' statuses from then on, and it ends them before kubexec
        # could report (README, Known limits). The rest of this test holds; the exit status
        # is PRRTE's to fix. xfail, not strict: it passes once prterun says non-zero.
        pytest.xfail("PRRTE 3.0: prterun exits 0 after losing a daemon mid-job")
    assert done.returncode != 0
