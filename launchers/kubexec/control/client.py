"""kubexec's side of the control master: hand this call's stdio to the user's warm master.

ssh's ControlMaster, for the exec API. A kubexec that connects itself pays for
an interpreter, ~30 ms of imports (ssl, our exec client) and a TLS handshake
per remote daemon; this client pays for the interpreter and a unix socket:

    1. find the master's socket in a private per-user directory (0700, ours, not
       a symlink; else the master is not used) and check the peer is our uid;
    2. send argv, cwd and environment with fds 0, 1, 2 (SCM_RIGHTS): the master
       forks, the child puts them on its own 0, 1, 2 and runs
       `direct.main`, the same code as a direct call;
    3. forward SIGTERM/SIGINT/SIGHUP as one byte each (the child re-raises them
       on itself, so they mean what they mean to a direct kubexec); report a
       dead parent (our launcher) as SIGHUP, as the direct path does;
    4. exit with the status byte the child sends; no byte = 255 and one line.

If we die (even by SIGKILL) our end of the socket closes and the child exits at
once, dropping its exec connection as a killed kubexec would: the guard in the
pod then ends the remote tree. `run()` returns None (use the direct path) only
before the request was sent: a command is never started twice.

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

TYPE_CHECKING = False  # typing costs 4 ms to import; mypy reads this name as True
if TYPE_CHECKING:
    from typing import Mapping

EXIT_FAILURE = 255
MAGIC = b"KX1"
START_WAIT = 3.0  # s: how long a call waits for a master being started
_MAX_PATH = 108  # sun_path, NUL included: a longer socket path cannot be bound
_FORWARDED = (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP)
why_not = ""  # when run() returns None: why no master took the call (kubexec -v says it)


def control_dir(env: Mapping[str, str] | None = None) -> str:
    """The per-user directory holding the master's socket and lock."""
    env = os.environ if env is None else env
    base = env.get("XDG_RUNTIME_DIR") or "/tmp"
    return os.path.join(base, f"kubexec-{os.getuid()}")


def _code_tag() -> str:
    """Masters of another install must not serve us: name them apart by the real path of
    the directory holding the install's programs. The C front (guard/kubexec-front.c)
    computes the same from its own path, so one master serves both. A master of this
    install that predates an upgrade serves until it is idle (as ssh's ControlMaster)."""
    here = os.path.realpath(os.path.dirname(sys.executable))
    return f"{zlib.crc32(os.fsencode(here)):08x}"


def private_dir(path: str) -> bool:
    """Make or check `path`: a real directory, ours, closed to everyone else."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return False
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_mode & 0o170000 == 0o040000 and st.st_uid == os.getuid()
            and st.st_mode & 0o077 == 0)


def socket_path(env: Mapping[str, str] | None = None) -> str:
    return os.path.join(control_dir(env), f"master-{_code_tag()}.sock")


def peer_uid(sock: _socket.socket) -> int:
    creds = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder)


def _connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        if peer_uid(sock) != os.getuid():
            raise OSError("control master runs as another user")
    except OSError:
        sock.close()
        return None
    return sock


def _start_master(path: str, persist: str) -> bool:
    """Start a master unless one is starting or running (the lock says which): True if we did."""
    try:
        lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # someone else holds it: a master is starting or running
        os.close(lock)
        return False
    pid = os.fork()
    if pid == 0:  # a daemon, as ssh's ControlPersist master: own session, no stdio
        try:
            os.setsid()
            if os.fork() == 0:
                os.chdir("/")  # python -m would look for `launchers` in the caller's cwd
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.set_inheritable(lock, True)  # the master holds the lock while it lives
                os.execv(sys.executable, [sys.executable, "-m", "launchers.kubexec.control.master",
                                          str(lock), path, persist])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    os.close(lock)
    return True


def _connect_or_start(path: str, persist: str) -> _socket.socket | None:
    end = time.monotonic() + START_WAIT
    started = False
    while True:
        sock = _connect(path)
        if sock is not None or time.monotonic() >= end:
            return sock
        # A no-op while a master holds the lock. If the lock is free again after we
        # started one, that master died without serving (it cannot bind?): go direct now.
        if _start_master(path, persist):
            if started:
                return None
            started = True
        time.sleep(0.01)


def encode_request(args: list[str], cwd: str, env: Mapping[str, str]) -> bytes:
    """MAGIC, cwd, argc, argv..., KEY=VALUE...: NUL-separated (none can hold a NUL)."""
    fields = [MAGIC, os.fsencode(cwd), str(len(args)).encode(), *map(os.fsencode, args)]
    fields += [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    body = b"\0".join(fields)
    return len(body).to_bytes(4, "big") + body


def _usable(fd: int) -> int:
    """`fd`, or /dev/null in its place when the caller closed it (a direct call reads EOF)."""
    try:
        os.fstat(fd)
    except OSError:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    return fd


def _heartbeat_interval() -> float:
    try:
        value = float(os.environ.get("KUBEXEC_HEARTBEAT_INTERVAL", "") or 5)
    except ValueError:
        value = 5.0
    return value if value > 0 else 5.0


def run(args: list[str], persist: str) -> int | None:
    """The remote status, or None when no master could take the call (then go direct)."""
    try:
        if float(persist) <= 0:
            return None
    except ValueError:
        return None  # the direct path refuses the bad value with its own message
    path = socket_path()
    if len(os.fsencode(path)) >= _MAX_PATH or not private_dir(control_dir()):
        return None
    sock = _connect_or_start(path, persist)
    if sock is None:
        return None
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = "/"
    request = encode_request(args, cwd, os.environ)
    fds = b"".join(_usable(fd).to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
    pending: list[int] = []

    def forward(signo: int, _frame: object) -> None:
        pending.append(signo)
        _send_signal(sock, signo)

    for signo in _FORWARDED:
        _signal.signal(signo, forward)
    try:
        sock.sendmsg([request[:4096]],
                     [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(request[4096:])
    except OSError:
        sock.close()
        return None  # the master went away before it had the request: nothing started
    return _wait(sock, pending)


def _send_signal(sock: _socket.socket, signo: int) -> None:
    """One byte per signal; a master already gone answers nothing, which _wait reports."""
    try:  # noqa: SIM105 - contextlib costs this hot path 2.5 ms to import
        sock.send(bytes([signo]))
    except OSError:
        pass


def _wait(sock: _socket.socket, pending: list[int]) -> int:
    parent = os.getppid()
    sock.settimeout(_heartbeat_interval())
    while True:
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
