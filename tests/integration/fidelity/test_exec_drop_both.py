"""What becomes of an exec's process when its client is killed, on both test beds.

Measured on the real one first (Kubernetes 1.34, containerd 2.2): a session that
was idle leaves its process running with stdin open (kubernetes #89031); a session
whose stdin carried data ends with the runtime SIGKILLing the process the exec
started (containerd's CRI exec kills it when the stream's context ends). The local
cluster does the same (kube_pmix/local/exec.py); these tests hold both to it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest


@pytest.fixture(params=[
    pytest.param("local", marks=pytest.mark.cluster),
    pytest.param("k8s", marks=[pytest.mark.k8s, pytest.mark.timeout(1800)]),
])
def cluster(request: pytest.FixtureRequest):
    return request.getfixturevalue("local_cluster" if request.param == "local"
                                   else "k8s_vcluster")


def marked(cluster, pod: str, mark: str) -> list[int]:
    """Processes of `pod` whose command line holds `mark`."""
    found = []
    for pid in cluster.pod_pids(pod):
        try:
            if mark in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode():
                found.append(pid)
        except OSError:
            continue
    return found


def start_exec(cluster, pod: str, script: str, stdin) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["kubectl", "--kubeconfig", cluster.kubeconfig, "-n", cluster.namespace, "exec", "-i",
         pod, "--", "sh", "-c", script], stdin=stdin, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL)


def wait_started(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"


def test_an_idle_session_outlives_its_killed_client(cluster):
    pod, mark = cluster.compute_pods[0], "sleep 3007"
    proc = start_exec(cluster, pod, f"echo started; exec {mark}", subprocess.PIPE)
    try:
        wait_started(proc)
        proc.kill()
        proc.wait(10)
        time.sleep(5)  # the runtime's reaction, if any, comes within this (measured: < 1 s)
        assert marked(cluster, pod, mark), "the idle session's process did not outlive it"
    finally:
        proc.kill()
        proc.wait()
        for pid in marked(cluster, pod, mark):
            cluster.pod_exec(pod, ["kill", "-9", str(pid)], timeout=30)


def test_a_session_with_stdin_traffic_ends_in_a_kill_of_its_process(cluster):
    pod, mark = cluster.compute_pods[-1], "ibs=4099"  # dd: reads stdin, marked by its args
    with open("/dev/zero", "rb") as zeros:
        proc = start_exec(cluster, pod, f"echo started; exec dd of=/dev/null {mark} status=none",
                          zeros)
        try:
            wait_started(proc)
            time.sleep(1)  # data flowing
            proc.kill()
            proc.wait(10)
            deadline = time.monotonic() + 20
            while marked(cluster, pod, mark) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not marked(cluster, pod, mark), "the active session's process lived on"
        finally:
            proc.kill()
            proc.wait()
