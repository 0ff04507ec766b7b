"""What real clusters do to exec sessions, which our tools must survive."""

from __future__ import annotations

import contextlib
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


def _tcp_table() -> list[list[str]]:
    """This network namespace's TCP sockets: fields of /proc/net/tcp{,6} (1 local,
    2 remote, 3 state, 9 inode)."""
    rows = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        rows += [line.split() for line in Path(table).read_text().splitlines()[1:]]
    return rows


def _connections(pid: int) -> set[tuple[str, str]]:
    """(local, remote) addresses of the TCP sockets process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    return {(row[1], row[2]) for row in _tcp_table() if row[9] in inodes}


def _server_still_reading(client: set[tuple[str, str]]) -> bool:
    """Whether the server's end of any of the client's connections is still open: state
    ESTABLISHED (01) or CLOSE_WAIT (08, the client's FIN not yet acted on)."""
    ends = {(remote, local) for local, remote in client}
    return any((row[1], row[2]) in ends and row[3] in ("01", "08") for row in _tcp_table())


def test_dropped_connection_leaves_process_running_with_stdin_open(local_cluster):
    pod = local_cluster.compute_pods[4]
    marker = "/tmp/kp-dropped-stdin-eof"
    client = subprocess.Popen(
        kubectl_argv(local_cluster, "exec", "-i", pod, "--", "sh", "-c",
                     f"echo started; cat >/dev/null; echo eof > {marker}"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert client.stdout is not None and client.stdout.readline() == "started\n"
        connections = _connections(client.pid)
        assert connections, "kubectl holds no TCP connection to the API server"
        client.kill()  # a TCP drop: no close frame, no stdin EOF
        client.wait(timeout=10)
        # The server has seen the drop once it closed its end; a wrong reaction (stdin
        # closed, process killed) follows at once, or later: watch on for a while.
        deadline = time.monotonic() + 60
        while _server_still_reading(connections):
            assert time.monotonic() < deadline, "the server never noticed the drop"
            time.sleep(0.1)
        watch_until = time.monotonic() + 5
        while True:
            assert local_cluster.pod_exec(pod, ["test", "-e", marker]).returncode == 1, \
                "stdin must stay open after the client dropped"
            cats = comm_pids(local_cluster, pod, "cat")
            assert len(cats) == 1, "the process must outlive its client"
            if time.monotonic() > watch_until:
                break
            time.sleep(0.5)
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
