"""kubexec through its per-user control master (KUBEXEC_CONTROL_PERSIST), against the stub.

The stub tests' behaviours (output, statuses, stdin, signals, kills, closed
stdout, usage errors) are imported and run again with every call going
through one master; then the master's own rules: one per user, private
socket, exits when idle, not used from an open directory, replaces a stale
socket, and a killed caller ends the remote tree at once.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

import tests.unit.launchers.test_kubexec_stub as direct
from launchers.kubexec.control import client as control_client
from tests.unit.launchers.test_kubexec_stub import (  # noqa: F401 - collected again here
    _start_sleeper,
    alive,
    kubexec,
    test_closed_stdout_ends_an_endless_remote_command,
    test_command_output_and_status,
    test_guard_exit_255_is_explained_on_stderr,
    test_help_and_usage_errors,
    test_large_output_and_input_arrive_intact,
    test_sigterm_ignored_remotely_still_ends_the_tree_after_the_signal_wait,
    test_sigterm_to_kubexec_ends_the_remote_tree,
    test_stdin_is_forwarded_and_closed,
    test_unreachable_pod_is_255_and_one_line,
    wait_gone,
)

stub = direct.stub  # the stub server fixture, by its name for the imported tests


def _masters(runtime: Path) -> list[int]:
    pids = []
    for lock in runtime.glob("kubexec-*/master-*.lock"):
        text = lock.read_text().strip()
        if text.isdigit() and alive(int(text)):
            pids.append(int(text))
    return pids


def wait_gone_all(runtime: Path, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while _masters(runtime) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _masters(runtime)


def _stop_masters(runtime: Path) -> None:
    for pid in _masters(runtime):
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid, 10)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    path = tmp_path_factory.mktemp("runtime")
    path.chmod(0o700)
    yield path
    _stop_masters(path)


@pytest.fixture(autouse=True)
def through_the_master(runtime, monkeypatch):
    """Every kubexec of the imported tests goes through the master in `runtime`."""
    plain = direct.kubexec_env

    def env(kubeconfig: Path, **extra: str) -> dict[str, str]:
        extra.setdefault("KUBEXEC_CONTROL_PERSIST", "30")
        extra.setdefault("XDG_RUNTIME_DIR", str(runtime))
        return plain(kubeconfig, **extra)

    monkeypatch.setattr(direct, "kubexec_env", env)


def test_calls_share_one_private_master(stub, runtime):
    _, kc = stub
    assert kubexec(kc, "pod-a", "true").returncode == 0
    first = _masters(runtime)
    assert kubexec(kc, "pod-a", "true").returncode == 0
    assert _masters(runtime) == first and len(first) == 1
    folder = Path(control_client.control_dir({"XDG_RUNTIME_DIR": str(runtime)}))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    sock = next(folder.glob("*.sock"))
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600


def test_master_exits_when_idle_and_removes_its_socket(stub, tmp_path):
    _, kc = stub
    tmp_path.chmod(0o700)
    result = kubexec(kc, "pod-a", "echo hi", KUBEXEC_CONTROL_PERSIST="1",
                     XDG_RUNTIME_DIR=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, b"hi\n")
    (pid,) = _masters(tmp_path)
    try:
        assert wait_gone(pid, 20)
        assert not list(tmp_path.glob("kubexec-*/*.sock"))
    finally:
        _stop_masters(tmp_path)


def test_open_control_directory_is_not_used(stub, tmp_path):
    """Another user could reach a socket there: connect directly instead."""
    _, kc = stub
    folder = Path(control_client.control_dir({"XDG_RUNTIME_DIR": str(tmp_path)}))
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    result = kubexec(kc, "pod-a", "echo direct", XDG_RUNTIME_DIR=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, b"direct\n")
    assert list(folder.iterdir()) == []


def test_stale_socket_is_replaced(stub, tmp_path):
    _, kc = stub
    tmp_path.chmod(0o700)
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    folder = Path(control_client.control_dir(env))
    folder.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(control_client.socket_path(env))  # bound, never listening: refuses
    dead.close()
    try:
        result = kubexec(kc, "pod-a", "echo ok", XDG_RUNTIME_DIR=str(tmp_path))
        assert (result.returncode, result.stdout) == (0, b"ok\n")
        assert len(_masters(tmp_path)) == 1
    finally:
        _stop_masters(tmp_path)


def test_killed_caller_ends_the_remote_tree_without_waiting_for_heartbeats(stub):
    """A direct kubexec's drop leaves the guard to its heartbeat timeout (20 s here);
    the master's child sees its caller go and ends the tree at once."""
    _, kc = stub
    proc, pid = _start_sleeper(kc)
    try:
        assert alive(pid)
        start = time.monotonic()
        proc.kill()
        proc.communicate()
        assert wait_gone(pid, 15)
        assert time.monotonic() - start < 15
    finally:
        proc.kill()


def test_too_long_a_socket_path_goes_direct_at_once(stub, tmp_path):
    _, kc = stub
    deep = tmp_path / ("d" * 100)
    deep.mkdir(mode=0o700)
    result = kubexec(kc, "pod-a", "echo direct", XDG_RUNTIME_DIR=str(deep))
    assert (result.returncode, result.stdout) == (0, b"direct\n")
    assert not list(deep.iterdir())  # not even the directory: no master was tried


def test_master_that_cannot_start_means_direct_without_the_full_wait(stub, tmp_path):
    """Something else sits at the socket path: the master dies, the call goes direct."""
    _, kc = stub
    tmp_path.chmod(0o700)
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    Path(control_client.control_dir(env)).mkdir(mode=0o700)
    Path(control_client.socket_path(env)).mkdir()  # cannot be unlinked nor bound
    result = kubexec(kc, "pod-a", "echo direct", XDG_RUNTIME_DIR=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, b"direct\n")
    assert wait_gone_all(tmp_path)
