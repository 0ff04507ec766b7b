"""What real clusters do to exec sessions, which our tools must survive."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed", allow_module_level=True)


def kubectl_argv(cluster, *args: str) -> list[str]:
    return ["kubectl", "--kubeconfig", cluster.kubeconfig, *args]


def comm_pids(cluster, pod: str, comm: str) -> list[int]:
    found = []
    for pid in cluster.pod_pids(pod):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                found.append(pid)
        except OSError:
            continue
    return found


def test_dropped_connection_leaves_process_running_with_stdin_open(local_cluster):
    pod = local_cluster.compute_pods[4]
    marker = "/tmp/kp-dropped-stdin-eof"
    client = subprocess.Popen(
        kubectl_argv(local_cluster, "exec", "-i", pod, "--", "sh", "-c",
                     f"echo started; cat >/dev/null; echo eof > {marker}"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert client.stdout is not None and client.stdout.readline() == "started\n"
        client.kill()  # a TCP drop: no close frame, no stdin EOF
        client.wait(timeout=10)
        time.sleep(1)  # give the server the chance to (wrongly) end the process
        cats = comm_pids(local_cluster, pod, "cat")
        assert len(cats) == 1, "the process must outlive its client"
        assert local_cluster.pod_exec(pod, ["test", "-e", marker]).returncode == 1, \
            "stdin must stay open after the client dropped"
    finally:
        for pid in comm_pids(local_cluster, pod, "cat"):
            os.kill(pid, signal.SIGKILL)
        local_cluster.pod_exec(pod, ["rm", "-f", marker])
        if client.poll() is None:
            client.kill()
            client.wait()


def test_session_lasts_while_a_child_holds_stdout(local_cluster):
    result = subprocess.run(
        kubectl_argv(local_cluster, "exec", local_cluster.compute_pods[3], "--", "sh", "-c",
                     "(sleep 0.5; echo background) & echo foreground"),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["foreground", "background"]


def test_idle_timeout_cuts_a_silent_session(cluster_factory):
    cluster = cluster_factory(nodes=1, idle_timeout=1)
    pod = cluster.compute_pods[0]
    try:
        result = subprocess.run(
            kubectl_argv(cluster, "exec", pod, "--", "sh", "-c", "echo hi; sleep 60; echo late"),
            capture_output=True, text=True, timeout=45)
    except subprocess.TimeoutExpired:
        pytest.fail("an idle exec session was not cut")
    assert result.stdout == "hi\n"
    assert "late" not in result.stdout
    for pid in comm_pids(cluster, pod, "sleep"):
        os.kill(pid, signal.SIGKILL)
