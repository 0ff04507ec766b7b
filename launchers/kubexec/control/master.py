"""The per-user control master behind `KUBEXEC_CONTROL_PERSIST` (see control/client.py).

    python -I -m launchers.kubexec.control.master LOCK_FD DIR_FD TAG PERSIST

Started on demand by the kubexec call that took the lock in the control
directory (DIR_FD, checked by the caller: control/rundir.py); holds that lock
for its whole life, so one master serves a socket. It imports the direct path
once (ssl, the exec client, YAML) and forks one child per call. The child
puts the caller's fds on its 0, 1, 2, takes the caller's argv, cwd and
environment, and runs `direct.main`: each call behaves as a direct kubexec
would, minus the interpreter start and the imports.

A child can only `_exit`: it is wrapped whole, its inherited handlers are reset
before it runs a line of its own (signals are blocked across the fork), and the
request is checked (control/request.py) before anything is acted on. An error
in it is one line on the caller's stderr. Only our own uid is served
(SO_PEERCRED); the socket is 0600 in a 0700 directory. The master exits once it
has had no call and no running child for PERSIST seconds; it unlinks its socket
first, then serves what is still queued, so no call that connected is dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import select
import signal
import socket
import sys
import time
from typing import NoReturn, Optional

from launchers.kubexec import direct
from launchers.kubexec.control import client, request, rundir

_REQUEST_TIMEOUT = 10.0  # s: a caller that connected sends its whole request at once
_CHILD_RESETS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGIO)
_RELAYED = frozenset((signal.SIGTERM, signal.SIGINT, signal.SIGHUP))  # what a caller sends
_held: list[int] = []  # the lock's and the directory's fds: children close them


def receive(conn: socket.socket) -> tuple[list[str], str, dict[str, str], list[int]]:
    """(argv, cwd, environment, fds) of one call, checked; BadRequest or OSError if not."""
    end = time.monotonic() + _REQUEST_TIMEOUT
    conn.settimeout(_REQUEST_TIMEOUT)
    data, fds, _flags, _addr = socket.recv_fds(conn, request.FIRST_CHUNK + 4, 3)
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        raise request.BadRequest("no stdio with the request")
    size = request.body_size(data)
    body = bytearray(data[4:])
    while len(body) < size:
        conn.settimeout(max(0.001, end - time.monotonic()))
        more = conn.recv(min(size - len(body), 1 << 20))
        if not more:
            raise request.BadRequest("short request")
        body += more
    if len(body) != size:
        raise request.BadRequest("request longer than it says")
    args, cwd, env = request.decode(bytes(body))
    return args, cwd, env, fds


def _watch_caller(conn: socket.socket, gone: list[bool]) -> None:
    """Signals the caller forwards are raised on us; its end closing is a SIGHUP."""

    def readable(_signo: int, _frame: object) -> None:
        while True:
            try:
                data = conn.recv(64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                # The caller is gone (killed?). A direct kubexec's dropped connection
                # leaves the guard to its heartbeat timeout; we can do better: end the
                # remote tree now, as for a dead launcher (SIGHUP, then the kill record).
                signal.signal(signal.SIGIO, signal.SIG_IGN)
                gone.append(True)
                os.kill(os.getpid(), signal.SIGHUP)
                return
            for signo in data:
                if signo in _RELAYED:  # a stray byte is no signal to raise (9? 19?)
                    os.kill(os.getpid(), signo)

    conn.setblocking(False)
    signal.signal(signal.SIGIO, readable)
    fd = conn.fileno()
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    readable(signal.SIGIO, None)  # what came before O_ASYNC was set


def serve_one(conn: socket.socket) -> int:
    """In the forked child: run one call to its end, answer its status byte."""
    try:
        args, cwd, env, fds = receive(conn)
    except (OSError, ValueError):
        return client.EXIT_FAILURE  # nothing started; the caller says so (no status byte)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)  # (names checked: putenv cannot refuse them)
    with contextlib.suppress(OSError):
        os.chdir(cwd)
    gone: list[bool] = []
    status = client.EXIT_FAILURE
    try:
        _watch_caller(conn, gone)
        # The caller watches its own parent; ours is the master, which may go first.
        status = direct.main(args, watch_parent=False)
    except BaseException as exc:  # noqa: BLE001 - never silent, never back into the master
        _complain(exc)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            signal.signal(signal.SIGIO, signal.SIG_IGN)
            if not gone:
                conn.setblocking(True)
                conn.send(bytes([status & 0xFF]))
    return status


def _complain(exc: BaseException) -> None:
    """One line on the caller's stderr (fd 2 is the caller's by now)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    with contextlib.suppress(OSError):
        os.write(2, f"kubexec: control master: internal error: {text}\n".encode())


def _child(conn: socket.socket, listener: socket.socket, mask: set[int]) -> NoReturn:
    """The forked child, whole: whatever happens, it ends here."""
    status = client.EXIT_FAILURE
    try:
        for signo in _CHILD_RESETS:  # the master's SIGTERM handler would unwind into serve()
            signal.signal(signo, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        listener.close()
        for fd in _held:
            os.close(fd)
        status = serve_one(conn)
    except BaseException as exc:  # noqa: BLE001 - a child must never return into the master
        _complain(exc)
    finally:
        os._exit(status & 0xFF)


def _fork_for(conn: socket.socket, listener: socket.socket, children: set[int]) -> None:
    if client.peer_uid(conn) != os.getuid():
        conn.close()
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _CHILD_RESETS)
    pid = os.fork()
    if pid == 0:
        _child(conn, listener, mask)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    conn.close()
    children.add(pid)


def _reap(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if not done:
                continue
        children.discard(pid)


def serve(listener: socket.socket, persist: float) -> None:
    children: set[int] = set()
    last = time.monotonic()
    while True:
        _reap(children)
        now = time.monotonic()
        if children:
            last = now
        elif now - last >= persist:
            return
        ready, _, _ = select.select([listener], [], [], min(1.0, persist))
        if ready:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                conn, _ = listener.accept()
                last = time.monotonic()
                _fork_for(conn, listener, children)


def _drain(listener: socket.socket) -> None:
    """After the unlink: serve the calls that connected before it."""
    listener.setblocking(False)
    children: set[int] = set()
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        conn.setblocking(True)
        _fork_for(conn, listener, children)


def _warm() -> None:
    """Do once here what every call would: the children inherit it."""
    from launchers.exec import config

    with contextlib.suppress(ImportError):
        import yaml  # noqa: F401 - for kubeconfig users
    "kubexec".encode("idna")  # non-ASCII host names: encodings.idna and its regex
    config.keep_contexts()
    with contextlib.suppress(Exception):  # the starter's config (callers usually share it)
        config.load_config(env=os.environ).ssl_context()


def _inode(dirfd: int, name: str) -> Optional[int]:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_ino
    except OSError:
        return None


def main(argv: list[str]) -> int:
    lock, dirfd, tag, persist = int(argv[0]), int(argv[1]), argv[2], argv[3]
    if not client.positive_seconds(persist):
        return 2  # nan, inf, 1e999: a master that never idles out
    for fd in (lock, dirfd):
        os.set_inheritable(fd, False)
        _held.append(fd)
    os.ftruncate(lock, 0)  # (the lock was opened O_NOFOLLOW in the checked directory)
    os.write(lock, f"{os.getpid()}\n".encode())  # who holds it: for `kill` and for tests
    _warm()
    name = request.socket_name(tag)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dirfd)  # a dead master's: we hold the lock, so no live one's
    old = os.umask(0o177)
    try:
        rundir.in_dir(dirfd, lambda: listener.bind(name))
    finally:
        os.umask(old)
    listener.listen(1024)
    inode = _inode(dirfd, name)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # What is imported now is shared with every child: keep the collector off it, or its
    # passes would write to (copy) those pages in each child.
    gc.freeze()
    try:
        serve(listener, float(persist))
    finally:
        if inode is not None and _inode(dirfd, name) == inode:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dirfd)
        _drain(listener)
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
