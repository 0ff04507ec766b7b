"""kubexec's C front (guard/kubexec-front.c), the `kubexec` that `make venv` installs.

The stub tests' behaviours and the control master's rules run again through it
(as in test_kubexec_control); then what is the front's own: it talks to the
master itself (no interpreter: /proc/PID/exe stays the front while a call
runs, which the tests below check whenever the front must not fall back), it
shares the master the Python client started, it hands every other call to the
Python kubexec (`kubexec-py` beside it), and each of its waits ends: on a
signal while the request is sent, after a bounded wait once a signal was
forwarded to a wedged master.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

import tests.unit.launchers.test_kubexec_control as control
import tests.unit.launchers.test_kubexec_stub as direct
from tests.unit.launchers.test_kubexec_control import (  # noqa: F401 - collected again here
    _masters,
    _stop_masters,
    test_a_command_the_master_took_is_never_run_again_directly,
    test_a_runtime_path_longer_than_sun_path_still_gets_a_master,
    test_a_socket_served_by_another_user_gets_no_fd,
    test_an_environment_entry_without_a_name_is_left_out,
    test_an_xdg_runtime_dir_of_another_user_is_not_used,
    test_bad_persist_value_is_refused_before_any_master,
    test_calls_share_one_private_master,
    test_killed_caller_ends_the_remote_tree_without_waiting_for_heartbeats,
    test_open_control_directory_is_not_used,
    test_our_directory_as_a_symlink_is_not_followed,
    test_our_directory_owned_by_another_user_is_not_used,
    test_relative_xdg_runtime_dir_is_ignored,
    test_stale_socket_is_replaced,
)
from tests.unit.launchers.test_kubexec_stub import (  # noqa: F401 - collected again here
    alive,
    big_file,
    kubexec,
    test_closed_stdin_stdout_or_stderr_are_dev_null,
    test_closed_stdout_ends_an_endless_remote_command,
    test_command_output_and_status,
    test_guard_exit_255_is_explained_on_stderr,
    test_help_and_usage_errors,
    test_large_output_and_input_arrive_intact,
    test_output_pipes_keep_their_blocking_mode,
    test_sigterm_ignored_remotely_still_ends_the_tree_after_the_signal_wait,
    test_sigterm_is_not_stuck_behind_stdin_the_peer_does_not_take,
    test_sigterm_to_kubexec_ends_the_remote_tree,
    test_slow_reader_keeps_heartbeats_and_gets_every_byte,
    test_stdin_is_forwarded_and_closed,
    test_unreachable_pod_is_255_and_one_line,
)

FRONT = Path(sys.executable).parent / "kubexec"
PYTHON = [sys.executable, "-m", "launchers.kubexec"]
stub = direct.stub  # the fixtures, by their names for the imported tests
runtime = control.runtime
others = control.others
victim = control.victim
sentinel = control.sentinel
through_the_master = control.through_the_master


@pytest.fixture(autouse=True)
def through_the_front(kubexec_front, monkeypatch):
    monkeypatch.setattr(direct, "KUBEXEC", [str(kubexec_front)])


def _sleeping(argv: list[str], kc: Path, preexec=None,
              **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """A call that stays up, and what its process runs while it does."""
    proc = subprocess.Popen([*argv, "pod-a", "sleep 300 & echo $!; wait"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=direct.kubexec_env(kc, **env),
                            preexec_fn=preexec)
    assert proc.stdout is not None
    int(proc.stdout.readline())  # the remote command runs: the call is set up
    return proc, os.path.realpath(f"/proc/{proc.pid}/exe")


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.communicate(timeout=30)


def _a_master(kc: Path, runtime: Path) -> int:
    """A master in `runtime`, started by the Python client if none runs: its pid."""
    first = subprocess.run([*PYTHON, "pod-a", "true"], capture_output=True, timeout=60,
                           env=direct.kubexec_env(kc, KUBEXEC_CONTROL_PERSIST="30",
                                                  XDG_RUNTIME_DIR=str(runtime)))
    assert first.returncode == 0, first.stderr
    (master,) = _masters(runtime)
    return master


def test_front_serves_the_call_itself_through_the_master_python_started(stub, runtime):
    _, kc = stub
    _stop_masters(runtime)
    master = _a_master(kc, runtime)
    proc, exe = _sleeping([str(FRONT)], kc)
    try:
        assert exe == os.path.realpath(FRONT)  # no interpreter: it did not fall back
        assert _masters(runtime) == [master]
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


def test_open_control_directory_sends_the_call_to_python_which_goes_direct(stub, tmp_path,
                                                                          sentinel):
    """The front's own check: had it skipped it, it would have connected to the sentinel."""
    _, kc = stub
    (tmp_path / f"kubexec-{os.getuid()}").chmod(0o755)
    proc, exe = _sleeping([str(FRONT)], kc, XDG_RUNTIME_DIR=str(tmp_path))
    try:
        assert exe == os.path.realpath(sys.executable)
    finally:
        _end(proc)
    assert not sentinel.connected()


def test_closed_stdin_is_handed_over_as_dev_null_by_the_front_itself(stub, runtime):
    _, kc = stub
    master = _a_master(kc, runtime)
    before = {child.pid for child in psutil.Process(master).children()}
    proc, exe = _sleeping([str(FRONT)], kc, preexec=lambda: os.close(0))
    try:
        assert exe == os.path.realpath(FRONT)
        child = control.serving_child(master, before)
        assert os.readlink(f"/proc/{child.pid}/fd/0") == "/dev/null"
    finally:
        _end(proc)


def test_dead_parent_is_reported_as_sighup(stub, runtime):
    """A launcher that dies without killing its agent: the front (itself, not a Python
    fallback: a master is running) sees its parent change."""
    _, kc = stub
    _a_master(kc, runtime)
    env = direct.kubexec_env(kc, KUBEXEC_HEARTBEAT_INTERVAL="0.2")
    shell = subprocess.Popen(
        ["/bin/sh", "-c", f"{FRONT} pod-a 'sleep 300 & echo $!; wait' & echo $!; wait"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert shell.stdout is not None
        front = int(shell.stdout.readline())
        pid = int(shell.stdout.readline())
        assert os.path.realpath(f"/proc/{front}/exe") == os.path.realpath(FRONT)
        shell.kill()  # the front is re-parented, not signalled
        shell.wait(30)
        assert direct.wait_gone(pid, 10)
    finally:
        shell.kill()
        shell.communicate(timeout=30)


def test_duplicate_environment_entries_resolve_as_in_a_direct_call(stub, runtime):
    """getenv and os.environ take the first of two entries; the master took the last."""
    server, kc = stub
    _a_master(kc, runtime)
    env = [f"{k}={v}".encode() for k, v in direct.kubexec_env(kc).items()]
    code = ("import ctypes, sys; libc = ctypes.CDLL(None); "
            "args = [a.encode() for a in sys.argv[1:]]; n = args.index(b'--'); "
            "argv = (ctypes.c_char_p * (n + 1))(*args[:n], None); "
            "envp = (ctypes.c_char_p * (len(args) - n))(*args[n + 1:], None); "
            "libc.execve(argv[0], argv, envp)")
    result = subprocess.run([sys.executable, "-c", code, str(FRONT), "pod-a", "true", "--",
                             *[e.decode() for e in env], "NAMESPACE=first", "NAMESPACE=second"],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "/namespaces/first/pods/pod-a/exec" in server.requests[-1]


def test_the_front_runs_without_proc(stub):
    """Without /proc it found no path of its own and exited 255; argv[0] and PATH tell."""
    _, kc = stub
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
         'mount -t tmpfs none /proc && exec "$@"', "sh", str(FRONT), "pod-a", "echo ok"],
        capture_output=True, timeout=60, env=direct.kubexec_env(kc))
    assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr


@pytest.fixture
def stopped_master(stub, runtime):
    """A master that takes connections into its backlog and never answers (SIGSTOP)."""
    _, kc = stub
    master = _a_master(kc, runtime)
    os.kill(master, signal.SIGSTOP)
    try:
        yield master
    finally:
        os.kill(master, signal.SIGCONT)


def _front_with_files(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The front with its output in files: the pipes' other copies would sit in the
    stopped master's socket, with the request, and a pipe would never reach EOF."""
    return subprocess.Popen([str(FRONT), "pod-a", "true"],
                            stdout=(tmp_path / "out").open("wb"),
                            stderr=(tmp_path / "err").open("wb"), env=env)


def test_sigterm_against_a_wedged_master_ends_the_front(stub, stopped_master, tmp_path):
    """Defect 7: the request sat in a stopped master's socket and the front waited for its
    status for ever, even after SIGTERM. Now the wait after a forwarded signal ends."""
    _, kc = stub
    proc = _front_with_files(tmp_path, direct.kubexec_env(kc, KUBEXEC_SIGNAL_WAIT="0.5"))
    try:
        _wait_for_the_front_to_wait(proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 128 + signal.SIGTERM
        assert (tmp_path / "err").read_text().splitlines() == [
            "kubexec: control master gave no exit status 6 s after signal 15: leaving it"]
    finally:
        proc.kill()
        proc.wait(30)


def test_sigterm_while_the_request_does_not_fit_ends_the_front(stub, stopped_master, tmp_path):
    """A request larger than the socket takes, to a master that reads nothing: the signal
    abandons the request (the master never has all of it) and meets its disposition."""
    _, kc = stub
    bulk = {f"BULK{i}": "x" * 100_000 for i in range(12)}
    proc = _front_with_files(tmp_path, {**direct.kubexec_env(kc), **bulk})
    try:
        _wait_for_the_front_to_wait(proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait(30)


def _wait_for_the_front_to_wait(proc: subprocess.Popen[bytes]) -> None:
    """Until the front sleeps in poll/ppoll with its socket connected."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        wchan = Path(f"/proc/{proc.pid}/wchan").read_text()
        connected = bool(psutil.Process(proc.pid).net_connections("unix"))
        if "poll" in wchan and connected:
            return
        time.sleep(0.05)
    pytest.fail(f"the front never waited on the master (status {proc.poll()})")
