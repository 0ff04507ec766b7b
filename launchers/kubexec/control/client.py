"""kubexec's side of the control master: hand this call's stdio to the user's warm master.

ssh's ControlMaster, for the exec API. A kubexec that connects itself pays for
an interpreter, ~30 ms of imports (ssl, our exec client) and a TLS handshake
per remote daemon; this client pays for the interpreter and a unix socket:

    1. open the private per-user directory (control/rundir.py: ours, 0700, by
       fd) and connect to the master's socket there; the peer must be our uid;
    2. send argv, cwd and environment (control/request.py) with fds 0, 1, 2
       (SCM_RIGHTS): the master forks, the child puts them on its own 0, 1, 2
       and runs `direct.main`, the same code as a direct call; TERM, INT and
       HUP are blocked until the whole request is sent, so that no handler runs
       in the middle of it;
    3. forward SIGTERM/SIGINT/SIGHUP as one byte each (the child re-raises them
       on itself, so they mean what they mean to a direct kubexec); report a
       dead parent (our launcher) as SIGHUP, as the direct path does;
    4. exit with the status byte the child sends; no byte = 255 and one line;
       after a forwarded signal the wait is bounded (a wedged master).

If we die (even by SIGKILL) our end of the socket closes and the child exits at
once, dropping its exec connection as a killed kubexec would: the guard in the
pod then ends the remote tree. `run()` returns None (use the direct path) only
before the master had the whole request: a command is never started twice.

Kept to built-in modules (_socket, _signal, fcntl): `import socket` and
`import signal` pull in enum, which costs more than the rest of this file.
"""

from __future__ import annotations

import _signal
import _socket
import fcntl
import os
import sys
import time
import zlib

from launchers.kubexec.control import request, rundir

EXIT_FAILURE = 255
START_WAIT = 3.0  # s: how long a call waits for a master being started
SEND_WAIT = 10.0  # s: for the whole request to go into the socket
_FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP)
why_not = ""  # when run() returns None: why no master took the call (kubexec -v says it)


def code_tag() -> str:
    """Masters of another install must not serve us: name them apart by the real path of
    the directory holding the install's programs. The C front (guard/kubexec-front.c)
    computes the same from its own path, so one master serves both. (request.VERSION is
    in the name too: a master of another wire format never serves us either.)"""
    here = os.path.realpath(os.path.dirname(sys.executable))
    return f"{zlib.crc32(os.fsencode(here)):08x}"


def positive_seconds(text: str) -> bool:
    """A finite number of seconds > 0 (nan, inf and 1e999 would make a master that never
    idles out); anything else is refused by the direct path with its own message."""
    try:
        value = float(text)
    except ValueError:
        return False
    return 0 < value < float("inf")


def peer_uid(sock: _socket.socket) -> int:
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder)


def _connect(dirfd: int, name: str) -> _socket.socket | None:
    """A socket to a master of our uid, or None. Non-blocking connect: a master that
    accepts nothing (a full backlog) is 'no master', not a wait."""
    global why_not
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        rundir.in_dir(dirfd, lambda: sock.connect(name))
        uid = peer_uid(sock)
        if uid != os.getuid():
            why_not = f"the control socket is served by uid {uid}"
            raise OSError(why_not)
    except OSError:
        sock.close()
        return None
    return sock


def _take_lock(dirfd: int, tag: str) -> int | None:
    """The lock's fd, locked by us; None while a master is starting or running."""
    try:
        lock = rundir.open_lock(dirfd, request.lock_name(tag))
    except OSError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # someone else holds it
        os.close(lock)
        return None
    return lock


def _start_master(dirfd: int, tag: str, persist: str) -> bool:
    """Start a master unless one is starting or running (the lock says which): True if we did."""
    lock = _take_lock(dirfd, tag)
    if lock is None:
        return False
    pid = os.fork()
    if pid == 0:  # a daemon, as ssh's ControlPersist master: own session, no stdio
        try:
            os.setsid()
            if os.fork() == 0:
                os.chdir("/")
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                for fd in (lock, dirfd):  # the master holds the lock while it lives
                    os.set_inheritable(fd, True)
                # -I: the first caller's PYTHONPATH, user site and cwd do not pick the code
                # that serves every later call. Only entries putenv can set again: each
                # child replaces the environment, and unsetenv("") of an `=x` would fail.
                env = {k: v for k, v in os.environ.items() if k and "=" not in k}
                os.execve(sys.executable, [sys.executable, "-I", "-m",
                                           "launchers.kubexec.control.master",
                                           str(lock), str(dirfd), tag, persist], env)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    os.close(lock)
    return True


def _lock_free(dirfd: int, tag: str) -> bool:
    """No master holds the lock (the one we started died without serving?)."""
    lock = _take_lock(dirfd, tag)
    if lock is None:
        return False
    os.close(lock)  # (which releases it)
    return True


def _connect_or_start(dirfd: int, persist: str) -> _socket.socket | None:
    global why_not
    tag = code_tag()
    name = request.socket_name(tag)
    end = time.monotonic() + START_WAIT
    started = False
    while True:
        sock = _connect(dirfd, name)
        if sock is not None:
            return sock
        if time.monotonic() >= end:
            why_not = why_not or f"no control master answered within {START_WAIT:g} s"
            return None
        if started and _lock_free(dirfd, tag):
            # Ours died without serving (cannot bind?): go direct now, start no second one.
            why_not = "the control master started for this call exited without serving"
            return None
        if not started:  # a no-op while another master holds the lock
            started = _start_master(dirfd, tag, persist)
        time.sleep(0.01)


def run(args: list[str], persist: str) -> int | None:
    """The remote status, or None when no master could take the call (then go direct)."""
    global why_not
    if not positive_seconds(persist):
        return None  # the direct path refuses the bad value with its own message
    try:
        dirfd = rundir.open_dir()
    except rundir.Unusable as exc:
        why_not = str(exc)
        return None
    try:
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = "/"
        body = request.encode(args, cwd, os.environ)
        if len(body) - 4 > request.MAX_SIZE:
            why_not = f"the request ({len(body)} bytes) is larger than a master takes"
            return None
        sock = _connect_or_start(dirfd, persist)
    finally:
        os.close(dirfd)
    return None if sock is None else _hand_over(sock, body)


def _hand_over(sock: _socket.socket, body: bytes) -> int | None:
    global why_not
    pending: list[int] = []

    def forward(signo: int, _frame: object) -> None:
        pending.append(signo)
        _send_signal(sock, signo)

    # Held back until the master has the whole request: a signal in the middle would
    # run `forward` between two parts of it. One that comes while we fall back meets
    # its old disposition, with nothing started.
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _FORWARDED)
    old = [_signal.signal(signo, forward) for signo in _FORWARDED]
    fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
    try:
        sock.settimeout(SEND_WAIT)
        sent = sock.sendmsg([body[: request.FIRST_CHUNK]],
                           [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        if sent <= 0:
            raise OSError("nothing sent")
        sock.sendall(body[sent:])
    except OSError:
        for signo, handler in zip(_FORWARDED, old):
            _signal.signal(signo, handler)
        sock.close()
        why_not = "the control master did not take the request"
        return None
    finally:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
    return _wait(sock, pending)


def _send_signal(sock: _socket.socket, signo: int) -> None:
    """One byte per signal; a master already gone answers nothing, which _wait reports."""
    try:  # noqa: SIM105 - contextlib costs this hot path 2.5 ms to import
        sock.send(bytes([signo]))
    except OSError:
        pass


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "") or default)
    except ValueError:
        value = default
    return value if 0 < value < float("inf") else default


def _wait(sock: _socket.socket, pending: list[int]) -> int:
    parent = os.getppid()
    interval = _seconds("KUBEXEC_HEARTBEAT_INTERVAL", 5.0)
    # After a forwarded signal the child waits KUBEXEC_SIGNAL_WAIT for the remote exit,
    # then as long again for the kill record to be taken: past that, the master is wedged.
    grace = 2 * _seconds("KUBEXEC_SIGNAL_WAIT", 3.0) + 5.0
    give_up = 0.0
    while True:
        if pending and not give_up:
            give_up = time.monotonic() + grace
        left = give_up - time.monotonic() if give_up else interval
        if give_up and left <= 0:
            sys.stderr.write(f"kubexec: control master gave no exit status {grace:g} s after "
                             f"signal {pending[0]}: leaving it\n")
            return 128 + pending[0]
        sock.settimeout(min(interval, left))
        try:
            data = sock.recv(1)
        except TimeoutError:  # a timeout is TimeoutError from Python 3.10 on
            data = None
        except OSError as exc:  # Python 3.9's _socket.timeout is no TimeoutError
            data = None if type(exc).__name__ == "timeout" else b""
        if data is None:
            if os.getppid() != parent:
                # Our launcher died without killing us: its remote daemon must not outlive it.
                parent = os.getppid()
                pending.append(_signal.SIGHUP)
                _send_signal(sock, _signal.SIGHUP)
            continue
        if data:
            return data[0]
        if pending:  # the signal we forwarded ended the child before it could answer
            return 128 + pending[0]
        sys.stderr.write("kubexec: control master session ended without an exit status "
                         "(set KUBEXEC_CONTROL_PERSIST=0 to connect directly)\n")
        return EXIT_FAILURE
