"""kubexec through its per-user control master (KUBEXEC_CONTROL_PERSIST), against the stub.

The stub tests' behaviours (output, statuses, stdin, signals, kills, closed
stdio, slow readers, stalled sends, pipe modes, usage errors) are imported and
run again with every call going through a master in this module's runtime
directory (each call starts one if none runs, so every test stands alone);
then the master's own rules: one per user, private socket, exits when idle;
the control directory's checks, one test per way another user could get in;
a command never started twice; a child that can only `_exit`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

import tests.unit.launchers.test_kubexec_stub as direct
from launchers.kubexec.control import client as control_client
from launchers.kubexec.control import request
from tests.unit.launchers.test_kubexec_stub import (  # noqa: F401 - collected again here
    _start_sleeper,
    alive,
    big_file,
    kubexec,
    test_closed_stdin_stdout_or_stderr_are_dev_null,
    test_closed_stdout_ends_an_endless_remote_command,
    test_command_output_and_status,
    test_guard_exit_255_is_explained_on_stderr,
    test_help_and_usage_errors,
    test_large_output_and_input_arrive_intact,
    test_no_guard_does_not_deadlock_on_stdin_the_command_reads_late,
    test_output_pipes_keep_their_blocking_mode,
    test_sigterm_ignored_remotely_still_ends_the_tree_after_the_signal_wait,
    test_sigterm_is_not_stuck_behind_stdin_the_peer_does_not_take,
    test_sigterm_to_kubexec_ends_the_remote_tree,
    test_slow_reader_keeps_heartbeats_and_gets_every_byte,
    test_stdin_is_forwarded_and_closed,
    test_unreachable_pod_is_255_and_one_line,
    wait_gone,
)

stub = direct.stub  # the stub server fixture, by its name for the imported tests
OTHER_UID = 65534  # nobody: the other user of the cross-user tests


def folder_of(runtime: Path) -> Path:
    return runtime / f"kubexec-{os.getuid()}"


def socket_of(runtime: Path) -> Path:
    return folder_of(runtime) / request.socket_name(control_client.code_tag())


def _masters(runtime: Path) -> list[int]:
    """The live masters of this install (its tag: /tmp holds other installs' too)."""
    pids = []
    for lock in runtime.glob(f"kubexec-*/{request.lock_name(control_client.code_tag())}"):
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
    assert stat.S_IMODE(folder_of(runtime).stat().st_mode) == 0o700
    sock = socket_of(runtime)
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


class Sentinel:
    """A listening socket where a master's would be: it tells whether anyone connected."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.setblocking(False)

    def connected(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sentinel(tmp_path):
    """A Sentinel at the socket's name in a control directory under tmp_path."""
    tmp_path.chmod(0o700)
    folder_of(tmp_path).mkdir(mode=0o700)
    watcher = Sentinel(socket_of(tmp_path))
    yield watcher
    watcher.close()


def test_open_control_directory_is_not_used(stub, tmp_path, sentinel):
    """Another user could reach a socket there: connect directly instead (the sentinel at
    the socket's name shows the check comes before any connect)."""
    _, kc = stub
    folder_of(tmp_path).chmod(0o755)
    result = kubexec(kc, "-v", "pod-a", "echo direct", XDG_RUNTIME_DIR=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, b"direct\n")
    assert b"control master not used: " in result.stderr and b"mode 755" in result.stderr
    assert not sentinel.connected()
    assert [p.name for p in folder_of(tmp_path).iterdir()] == [socket_of(tmp_path).name]


def test_stale_socket_is_replaced(stub, tmp_path):
    _, kc = stub
    tmp_path.chmod(0o700)
    folder_of(tmp_path).mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(socket_of(tmp_path)))  # bound, never listening: refuses
    dead.close()
    _served_by_one_new_master(kc, tmp_path)


def _served_by_one_new_master(kc: Path, runtime: Path) -> None:
    """A call in `runtime` runs, through the one master it started there."""
    try:
        result = kubexec(kc, "pod-a", "echo ok", XDG_RUNTIME_DIR=str(runtime))
        assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr
        assert len(_masters(runtime)) == 1
    finally:
        _stop_masters(runtime)


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


def test_a_runtime_path_longer_than_sun_path_still_gets_a_master(stub, tmp_path):
    """The socket is bound and reached by its name inside the directory (the directory
    is the cwd for that one call), so the 108 bytes of sun_path do not limit the path."""
    _, kc = stub
    deep = tmp_path / ("d" * 120)
    deep.mkdir(mode=0o700)
    _served_by_one_new_master(kc, deep)


def test_master_that_cannot_start_means_direct_at_once_and_only_one_try(stub, tmp_path):
    """Something else sits at the socket path: the master dies, the call goes direct as
    soon as the lock is free again (not after the full wait), and no second master is
    started before giving up (-v says which way it went)."""
    _, kc = stub
    tmp_path.chmod(0o700)
    folder_of(tmp_path).mkdir(mode=0o700)
    socket_of(tmp_path).mkdir()  # cannot be unlinked nor bound
    result = kubexec(kc, "-v", "pod-a", "echo direct", XDG_RUNTIME_DIR=str(tmp_path))
    assert (result.returncode, result.stdout) == (0, b"direct\n")
    assert (b"control master not used: the control master started for this call exited "
            b"without serving") in result.stderr
    assert wait_gone_all(tmp_path)


@pytest.mark.parametrize("value", ["nan", "inf", "1e999", "-inf", "soon"])
def test_bad_persist_value_is_refused_before_any_master(stub, tmp_path, sentinel, value):
    """Defect 8: nan, inf or 1e999 made a master that never idles out. Refused with one
    line by the direct path, and no master is looked for (the sentinel at the socket's
    name stays unconnected, no lock is made)."""
    _, kc = stub
    result = kubexec(kc, "pod-a", "true", KUBEXEC_CONTROL_PERSIST=value,
                     XDG_RUNTIME_DIR=str(tmp_path))
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "KUBEXEC_CONTROL_PERSIST" in lines[0], lines
    assert not sentinel.connected()
    assert not list(folder_of(tmp_path).glob("*.lock"))


def test_relative_xdg_runtime_dir_is_ignored(stub, tmp_path):
    """XDG says a relative path is to be ignored: it named one directory for the client
    (its cwd) and another for the master (which runs in /); /tmp is used instead."""
    _, kc = stub
    (tmp_path / "rt").mkdir(mode=0o700)
    tmp = Path("/tmp") / f"kubexec-{os.getuid()}"
    proc = subprocess.run([*direct.KUBEXEC, "pod-a", "echo ok"], cwd=tmp_path,
                          capture_output=True, timeout=60,
                          env=direct.kubexec_env(kc, KUBEXEC_CONTROL_PERSIST="1",
                                                 XDG_RUNTIME_DIR="rt"))
    try:
        assert (proc.returncode, proc.stdout) == (0, b"ok\n"), proc.stderr
        assert list((tmp_path / "rt").iterdir()) == []
        assert (tmp / request.socket_name(control_client.code_tag())).exists()
    finally:
        _stop_masters(Path("/tmp"))


# ---- another user: each way in ------------------------------------------------------

@pytest.fixture
def others():
    """A directory the other user owns, where that user can reach it (pytest's own
    temporary directories are closed to others)."""
    top = Path(tempfile.mkdtemp(prefix="kubexec-others-", dir="/tmp"))
    top.chmod(0o711)
    own = top / "theirs"
    own.mkdir()
    os.chown(own, OTHER_UID, OTHER_UID)
    yield own
    shutil.rmtree(top)


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file of ours that only we may write: the master's pid must never land in it."""
    path = tmp_path / "victim"
    path.write_text("secret\n")
    path.chmod(0o600)
    return path


def _as_other(code: str, *args: str) -> subprocess.Popen[str]:
    # the system's interpreter: the other user may not reach the checkout's venv
    return subprocess.Popen(["/usr/bin/python3", "-c", code, *args], user=OTHER_UID,
                            group=OTHER_UID, stdout=subprocess.PIPE, text=True)


def _call_direct(kc: Path, runtime: str, expect: bytes, **env: str) -> None:
    """One call that must run, directly, saying why with -v."""
    result = kubexec(kc, "-v", "pod-a", "echo direct", XDG_RUNTIME_DIR=runtime, **env)
    assert (result.returncode, result.stdout) == (0, b"direct\n"), result.stderr
    notes = [line for line in result.stderr.splitlines() if b"control master not used" in line]
    assert len(notes) == 1 and expect in notes[0], result.stderr


def test_an_xdg_runtime_dir_of_another_user_is_not_used(stub, others, victim):
    """`sudo -E` keeps the caller's XDG_RUNTIME_DIR: its owner could swap our directory
    for a symlink to one of theirs, whose lock is a symlink to our file. Seen: root's
    0600 file became the master's pid. The base must be ours: nothing is opened in it."""
    _, kc = stub
    planted = others / "planted"
    planted.mkdir()
    (planted / request.lock_name(control_client.code_tag())).symlink_to(victim)
    (others / f"kubexec-{os.getuid()}").symlink_to(planted)
    for path in (planted, others):
        os.chown(path, OTHER_UID, OTHER_UID)
    others.chmod(0o700)
    _call_direct(kc, str(others), b"is not ours and 0700 (owner uid 65534")
    assert victim.read_text() == "secret\n"
    assert [p.name for p in planted.iterdir()] == [request.lock_name(control_client.code_tag())]


def test_our_directory_owned_by_another_user_is_not_used(stub, tmp_path):
    """/tmp/kubexec-UID made first by someone else (or any base of ours holding one)."""
    _, kc = stub
    tmp_path.chmod(0o700)
    folder_of(tmp_path).mkdir(mode=0o700)
    os.chown(folder_of(tmp_path), OTHER_UID, OTHER_UID)
    _call_direct(kc, str(tmp_path), b"is not ours and 0700 (owner uid 65534")
    assert list(folder_of(tmp_path).iterdir()) == []


def test_our_directory_as_a_symlink_is_not_followed(stub, tmp_path, victim):
    _, kc = stub
    tmp_path.chmod(0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / request.lock_name(control_client.code_tag())).symlink_to(victim)
    folder_of(tmp_path).symlink_to(elsewhere)
    _call_direct(kc, str(tmp_path), b"cannot open")
    assert victim.read_text() == "secret\n"


def test_the_lock_as_a_symlink_is_not_followed(stub, tmp_path, victim):
    """Only we can write our 0700 directory, but the lock is opened O_NOFOLLOW all the
    same: a symlink there is no lock, and no master starts."""
    _, kc = stub
    tmp_path.chmod(0o700)
    folder_of(tmp_path).mkdir(mode=0o700)
    (folder_of(tmp_path) / request.lock_name(control_client.code_tag())).symlink_to(victim)
    _call_direct(kc, str(tmp_path), b"no control master answered")
    assert victim.read_text() == "secret\n"
    assert not _masters(tmp_path)


ROGUE = """
import os, socket, sys
listener = socket.socket(socket.AF_UNIX)
listener.bind(sys.argv[1])
listener.listen(8)
print("ready", flush=True)
listener.settimeout(60)
conn, _ = listener.accept()
conn.settimeout(60)
data, fds, _, _ = socket.recv_fds(conn, 65536, 8)
print(len(data), len(fds), flush=True)
"""


def test_a_socket_served_by_another_user_gets_no_fd(stub, tmp_path, others):
    """SO_PEERCRED is checked before anything is sent: a listener of another uid at the
    master's name sees a connection close with no byte and no fd; the call then starts
    a master of ours (the socket counts as stale) and goes through it."""
    _, kc = stub
    tmp_path.chmod(0o700)
    folder_of(tmp_path).mkdir(mode=0o700)
    rogue = _as_other(ROGUE, str(others / "rogue.sock"))
    try:
        assert rogue.stdout is not None and rogue.stdout.readline() == "ready\n"
        os.rename(others / "rogue.sock", socket_of(tmp_path))
        result = kubexec(kc, "pod-a", "echo ours", XDG_RUNTIME_DIR=str(tmp_path))
        assert (result.returncode, result.stdout) == (0, b"ours\n"), result.stderr
        assert rogue.stdout.readline().split() == ["0", "0"]
        assert len(_masters(tmp_path)) == 1
    finally:
        rogue.kill()
        rogue.communicate()
        _stop_masters(tmp_path)


# ---- a command is never started twice; the master's children --------------------------

def test_a_command_the_master_took_is_never_run_again_directly(stub, runtime, tmp_path):
    """The master had the whole request, then its child died: the call ends with 255 and
    one line; it does not fall back to running the command itself."""
    server, kc = stub
    counter = tmp_path / "runs"
    _one_master(stub, runtime)
    before = len(server.requests)
    call = subprocess.Popen([*direct.KUBEXEC, "pod-a", f"echo x >>{counter}; exec sleep 300"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=direct.kubexec_env(kc))
    try:
        (master,) = _masters(runtime)
        deadline = time.monotonic() + 30
        while not counter.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        for child in psutil.Process(master).children():
            child.kill()
        _out, err = call.communicate(timeout=60)
        assert call.returncode == 255
        assert err.decode().splitlines() == [
            "kubexec: control master session ended without an exit status "
            "(set KUBEXEC_CONTROL_PERSIST=0 to connect directly)"]
        assert counter.read_text() == "x\n" and len(server.requests) - before == 1
    finally:
        call.kill()
        call.communicate()


def serving_child(master: int, before: set[int]) -> psutil.Process:
    """The child the master forked for a call made after `before` was taken (the last
    call's child may still be there, a zombie until the master's next loop reaps it)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for child in psutil.Process(master).children():
            if child.pid not in before and child.status() != psutil.STATUS_ZOMBIE:
                return child
        time.sleep(0.05)
    raise AssertionError("the master forked no child for the call")


def _master_processes(master: int) -> list[int]:
    """The master and any process running its code (a child that fell into serve())."""
    cmdline = psutil.Process(master).cmdline()
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if proc.info["cmdline"] == cmdline:
            found.append(proc.pid)
    return found


def _raw_call(runtime: Path, body: bytes, fds: tuple[int, ...] = (0, 1, 2)) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(socket_of(runtime)))
    sock.sendmsg([body[:4096]], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                  b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds))]
                 if fds else [])
    if body[4096:]:
        sock.sendall(body[4096:])
    return sock


def _one_master(stub, runtime: Path) -> tuple[int, int]:
    """(the master's pid, its socket's inode), after a call that started it if need be."""
    _, kc = stub
    assert kubexec(kc, "pod-a", "true").returncode == 0
    (master,) = _masters(runtime)
    return master, socket_of(runtime).stat().st_ino


def _still_the_only_master(stub, runtime: Path, master: int, inode: int) -> None:
    _, kc = stub
    deadline = time.monotonic() + 15
    while _master_processes(master) != [master] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _master_processes(master) == [master], "a child runs the master's code"
    assert socket_of(runtime).stat().st_ino == inode
    result = kubexec(kc, "pod-a", "echo served")
    assert (result.returncode, result.stdout) == (0, b"served\n")
    assert _masters(runtime) == [master]


def _request(args: list[str], env: dict[str, str]) -> bytes:
    return request.encode(args, "/", env)


@pytest.mark.parametrize("what", ["short body", "empty name", "bad magic", "no fds",
                                  "huge length", "argc past the end"])
def test_a_bad_request_ends_only_its_child(stub, runtime, what):
    """Defect 5: a child fell back into the master's code (and later removed the live
    socket) on these. Now the child only _exits; the master serves on."""
    master, inode = _one_master(stub, runtime)
    good = _request(["pod-a", "true"], {"PATH": "/bin"})
    body = {
        "short body": good[:-3],
        "empty name": good + b"\0=x",
        "bad magic": good[:4] + b"KX9" + good[7:],
        "no fds": good,
        "huge length": b"\xff\xff\xff\xff" + good[4:],
        "argc past the end": good.replace(b"\x002\x00", b"\x009\x00"),
    }[what]
    sock = _raw_call(runtime, body, () if what == "no fds" else (0, 1, 2))
    try:
        sock.shutdown(socket.SHUT_WR)  # the rest never comes
        sock.settimeout(30)
        assert sock.recv(1) == b""  # no status: nothing was started
    finally:
        sock.close()
    _still_the_only_master(stub, runtime, master, inode)


def test_sigterm_to_a_child_waiting_for_its_request_ends_only_the_child(stub, runtime):
    """The master's own SIGTERM handler (sys.exit) was the child's too: it unwound into
    the master's loop and its cleanup removed the live socket."""
    master, inode = _one_master(stub, runtime)
    before = {child.pid for child in psutil.Process(master).children()}
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(socket_of(runtime)))
    try:
        child = serving_child(master, before)
        child.send_signal(signal.SIGTERM)
        child.wait(15)
    finally:
        sock.close()
    _still_the_only_master(stub, runtime, master, inode)


def test_stray_bytes_on_the_signal_channel_are_no_signals(stub, runtime):
    """Only TERM, INT and HUP are raised; 0, STOP, KILL or 200 from the caller are not."""
    master, inode = _one_master(stub, runtime)
    _, kc = stub
    out_r, out_w = os.pipe()
    env = direct.kubexec_env(kc)
    sock = _raw_call(runtime, _request(["pod-a", "sleep 1; echo done"], env),
                     (os.open(os.devnull, os.O_RDONLY), out_w, out_w))
    os.close(out_w)
    try:
        sock.sendall(bytes([0, signal.SIGSTOP, signal.SIGKILL, 200]))
        sock.settimeout(60)
        assert sock.recv(1) == b"\0"
        assert os.read(out_r, 100) == b"done\n"
    finally:
        sock.close()
        os.close(out_r)
    _still_the_only_master(stub, runtime, master, inode)


def test_an_environment_entry_without_a_name_is_left_out(stub, tmp_path):
    """`env '=x' kubexec ...` gave 255, a traceback, and a master orphaned for good. The
    first call here starts the master (which must not inherit the entry either: each
    child replaces its environment), the second is served by it."""
    _, kc = stub
    tmp_path.chmod(0o700)
    env = direct.kubexec_env(kc, XDG_RUNTIME_DIR=str(tmp_path))
    try:
        for _ in range(2):
            result = subprocess.run(["/usr/bin/env", "=x", *direct.KUBEXEC, "pod-a", "echo ok"],
                                    capture_output=True, env=env, timeout=60)
            assert (result.returncode, result.stdout, result.stderr) == (0, b"ok\n", b"")
        assert len(_masters(tmp_path)) == 1
    finally:
        _stop_masters(tmp_path)


def test_the_master_ignores_the_first_callers_pythonpath(stub, tmp_path):
    """The master is started with -I: a PYTHONPATH of the first caller's does not choose
    the code that serves everyone after (kubexec-py itself runs -IS)."""
    _, kc = stub
    tmp_path.chmod(0o700)
    shadow = tmp_path / "shadow" / "launchers"
    shadow.mkdir(parents=True)
    marker = tmp_path / "imported"
    (shadow / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {**direct.kubexec_env(kc, KUBEXEC_CONTROL_PERSIST="30",
                                XDG_RUNTIME_DIR=str(tmp_path)), "PYTHONPATH": str(shadow.parent)}
    try:
        result = subprocess.run([str(Path(sys.executable).parent / "kubexec-py"), "pod-a",
                                 "echo ok"], capture_output=True, env=env, timeout=60)
        assert (result.returncode, result.stdout) == (0, b"ok\n"), result.stderr
        assert len(_masters(tmp_path)) == 1 and not marker.exists()
    finally:
        _stop_masters(tmp_path)


def test_the_wire_version_is_the_same_in_c_and_python():
    """It names the socket: a master of another wire format never serves a client."""
    source = (direct.REPO / "guard" / "kubexec-front.c").read_text()
    assert f"#define PROTOCOL_VERSION {request.VERSION} " in source
    assert f'#define MAGIC "{request.MAGIC.decode()}" ' in source
    assert request.socket_name("t") == f"master-t-v{request.VERSION}.sock"


def test_request_checks():
    body = request.encode(["a", "b"], "/x", {"K": "1", "": "dropped", "A=B": "dropped"})[4:]
    assert request.decode(body) == (["a", "b"], "/x", {"K": "1"})
    doubled = body + b"\0K=2"
    assert request.decode(doubled)[2] == {"K": "1"}  # the first wins, as getenv's
    for bad in (b"", b"KX1\0/\x000", body.replace(b"/x", b"x"), body + b"\0=x",
                body + b"\0NOEQUALS", body.replace(b"\x002\x00", b"\x0099999999\x00")):
        with pytest.raises(request.BadRequest):
            request.decode(bad)
    with pytest.raises(request.BadRequest):
        request.body_size((request.MAX_SIZE + 1).to_bytes(4, "big"))


CHILD_FAILS = """
import socket, sys
from launchers.kubexec import direct
from launchers.kubexec.control import master
def fails(*args, **kwargs):
    raise RuntimeError("a bug,\\nover two lines")
direct.main = fails  # a unit test's stand-in: whatever a child can meet that nobody foresaw
sys.exit(master.serve_one(socket.socket(fileno=int(sys.argv[1]))))
"""


def test_an_error_in_a_masters_child_is_one_line_and_255():
    """Errors inside a master child gave a silent 255: now one line on the caller's stderr."""
    ours, theirs = socket.socketpair()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    child = subprocess.Popen([sys.executable, "-c", CHILD_FAILS, str(theirs.fileno())],
                             pass_fds=(theirs.fileno(),), cwd=direct.REPO)
    theirs.close()
    try:
        ours.sendmsg([request.encode(["pod-a", "true"], "/", {"A": "1"})],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                       b"".join(fd.to_bytes(4, sys.byteorder) for fd in (null, null, err_w)))])
        os.close(err_w)
        ours.settimeout(60)
        assert ours.recv(1) == b"\xff"
        assert child.wait(60) == 255
        assert os.read(err_r, 4096).decode().splitlines() == [
            "kubexec: control master: internal error: RuntimeError: a bug, over two lines"]
    finally:
        child.kill()
        child.wait()
        ours.close()
        os.close(err_r)
        os.close(null)
