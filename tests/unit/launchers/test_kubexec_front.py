"""kubexec's C front (guard/kubexec-front.c), the `kubexec` that `make venv` installs.

The stub tests' behaviours run again through it and one master (as in
test_kubexec_control); then what is the front's own: it talks to the master
itself (no interpreter: /proc/PID/exe stays the front), it shares the master
the Python client started, and it hands every other call to the Python
kubexec, `kubexec-py` beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tests.unit.launchers.test_kubexec_control as control
import tests.unit.launchers.test_kubexec_stub as direct
from tests.unit.launchers.test_kubexec_control import (  # noqa: F401 - collected again here
    _masters,
    _stop_masters,
    test_calls_share_one_private_master,
    test_killed_caller_ends_the_remote_tree_without_waiting_for_heartbeats,
    test_stale_socket_is_replaced,
)
from tests.unit.launchers.test_kubexec_stub import (  # noqa: F401 - collected again here
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
)

FRONT = Path(sys.executable).parent / "kubexec"
PYTHON = [sys.executable, "-m", "launchers.kubexec"]
stub = direct.stub  # the fixtures, by their names for the imported tests
runtime = control.runtime
through_the_master = control.through_the_master


@pytest.fixture(autouse=True)
def through_the_front(monkeypatch):
    assert FRONT.read_bytes()[:4] == b"\x7fELF", f"{FRONT} is not the C front: run `make venv`"
    monkeypatch.setattr(direct, "KUBEXEC", [str(FRONT)])


def _sleeping(argv: list[str], kc: Path, **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """A call that stays up, and what its process runs while it does."""
    proc = subprocess.Popen([*argv, "pod-a", "sleep 300 & echo $!; wait"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=direct.kubexec_env(kc, **env))
    assert proc.stdout is not None
    int(proc.stdout.readline())  # the remote command runs: the call is set up
    return proc, os.path.realpath(f"/proc/{proc.pid}/exe")


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.communicate(timeout=30)


def test_front_serves_the_call_itself_through_the_master_python_started(stub, runtime):
    _, kc = stub
    _stop_masters(runtime)
    monkey_env = {"KUBEXEC_CONTROL_PERSIST": "30", "XDG_RUNTIME_DIR": str(runtime)}
    first = subprocess.run([*PYTHON, "pod-a", "true"], env=direct.kubexec_env(kc, **monkey_env),
                           capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    masters = _masters(runtime)
    assert len(masters) == 1
    proc, exe = _sleeping([str(FRONT)], kc, **monkey_env)
    try:
        assert exe == os.path.realpath(FRONT)  # no interpreter: it did not fall back
        assert _masters(runtime) == masters
    finally:
        _end(proc)


def test_without_persist_the_front_runs_the_python_kubexec(stub):
    _, kc = stub
    proc, exe = _sleeping([str(FRONT)], kc, KUBEXEC_CONTROL_PERSIST="0")
    try:
        assert exe == os.path.realpath(sys.executable)
    finally:
        _end(proc)
    result = kubexec(kc, "pod-a", "echo", "out;", "exit 4", KUBEXEC_CONTROL_PERSIST="0")
    assert (result.returncode, result.stdout) == (4, b"out\n")


def test_open_control_directory_sends_the_call_to_python_which_goes_direct(stub, tmp_path):
    _, kc = stub
    folder = tmp_path / f"kubexec-{os.getuid()}"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    proc, exe = _sleeping([str(FRONT)], kc, XDG_RUNTIME_DIR=str(tmp_path))
    try:
        assert exe == os.path.realpath(sys.executable)
    finally:
        _end(proc)
    assert list(folder.iterdir()) == []  # no master was started in it


def test_bad_persist_value_is_refused_by_the_python_side(stub):
    _, kc = stub
    result = kubexec(kc, "pod-a", "true", KUBEXEC_CONTROL_PERSIST="soon")
    assert result.returncode == 255
    assert b"KUBEXEC_CONTROL_PERSIST" in result.stderr and result.stderr.count(b"\n") == 1


def test_closed_stdin_is_sent_as_dev_null(stub, runtime):
    _, kc = stub
    env = direct.kubexec_env(kc, KUBEXEC_CONTROL_PERSIST="30", XDG_RUNTIME_DIR=str(runtime))
    result = subprocess.run(f"{FRONT} pod-a 'cat; echo end' <&-", shell=True, env=env,
                            capture_output=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, b"end\n"), result.stderr


def test_dead_parent_is_reported_as_sighup(stub, runtime):
    """A launcher that dies without killing its agent: the front sees its parent change."""
    _, kc = stub
    env = direct.kubexec_env(kc, KUBEXEC_CONTROL_PERSIST="30", XDG_RUNTIME_DIR=str(runtime),
                             KUBEXEC_HEARTBEAT_INTERVAL="0.2")
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f"{FRONT} pod-a 'sleep 300 & echo $!; wait' & wait"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert shell.stdout is not None
        pid = int(shell.stdout.readline())
        assert alive(pid)
        shell.kill()  # the front is re-parented, not signalled
        shell.wait()
        assert direct.wait_gone(pid, 10)
    finally:
        shell.kill()
        shell.communicate()
