"""The per-user control master behind `KUBEXEC_CONTROL_PERSIST` (see control/client.py).

    python -m launchers.kubexec.control.master LOCK_FD SOCKET PERSIST

Started on demand by the kubexec call that took the lock next to SOCKET; holds
that lock for its whole life, so one master serves a socket. It imports the
direct path once (ssl, the exec client, YAML) and forks one child per call.
The child puts the caller's fds on its 0, 1, 2, takes the caller's argv, cwd
and environment, and runs `direct.main`: each call behaves as a direct
kubexec would, minus the interpreter start and the imports.

Only our own uid is served (SO_PEERCRED); the socket is 0600 in a 0700
directory. The master exits once it has had no call and no running child for
PERSIST seconds; it unlinks its socket first, then serves what is still queued,
so no call that connected is dropped unanswered.
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
from typing import Optional

from launchers.kubexec import direct
from launchers.kubexec.control import client

_REQUEST_TIMEOUT = 10.0  # s: a caller that connected sends its request at once
_held: list[int] = []  # the lock's fd: children close it, or a long session would keep it


def receive(conn: socket.socket) -> tuple[list[str], str, dict[str, str], list[int]]:
    """(argv, cwd, environment, fds) of one call, as client.encode_request made it."""
    conn.settimeout(_REQUEST_TIMEOUT)
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    if len(fds) != 3 or len(data) < 4:
        raise ValueError("bad request")
    size = int.from_bytes(data[:4], "big")
    body = bytearray(data[4:])
    while len(body) < size:
        more = conn.recv(size - len(body))
        if not more:
            raise ValueError("short request")
        body += more
    fields = bytes(body).split(b"\0")
    if fields[0] != client.MAGIC:
        raise ValueError("not a kubexec request")
    cwd, argc = os.fsdecode(fields[1]), int(fields[2])
    args = [os.fsdecode(f) for f in fields[3 : 3 + argc]]
    env = {}
    for entry in fields[3 + argc :]:
        key, _, value = os.fsdecode(entry).partition("=")
        env[key] = value
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
                os.kill(os.getpid(), signo)

    conn.setblocking(False)
    signal.signal(signal.SIGIO, readable)
    fd = conn.fileno()
    fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)
    readable(signal.SIGIO, None)  # what came before O_ASYNC was set


def serve_one(conn: socket.socket) -> None:
    """In the forked child: run one call to its end, answer its status byte, exit."""
    try:
        args, cwd, env, fds = receive(conn)
    except (OSError, ValueError):
        os._exit(client.EXIT_FAILURE)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    with contextlib.suppress(OSError):
        os.chdir(cwd)
    for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signo, signal.SIG_DFL)
    gone: list[bool] = []
    _watch_caller(conn, gone)
    status = client.EXIT_FAILURE
    try:
        # The caller watches its own parent; ours is the master, which may go first.
        status = direct.main(args, watch_parent=False)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            signal.signal(signal.SIGIO, signal.SIG_IGN)
            if not gone:
                conn.setblocking(True)
                conn.send(bytes([status & 0xFF]))
        os._exit(0)


def _fork_for(conn: socket.socket, listener: socket.socket, children: set[int]) -> None:
    if client.peer_uid(conn) != os.getuid():
        conn.close()
        return
    pid = os.fork()
    if pid == 0:
        listener.close()
        for fd in _held:
            os.close(fd)
        serve_one(conn)
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


def main(argv: list[str]) -> int:
    lock, path, persist = int(argv[0]), argv[1], float(argv[2])
    os.set_inheritable(lock, False)
    _held.append(lock)
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who holds it: for `kill` and for tests
    _warm()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a dead master's: we hold the lock, so no live one owns it
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(1024)
    inode: Optional[int] = os.stat(path).st_ino
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # What is imported now is shared with every child: keep the collector off it, or its
    # passes would write to (copy) those pages in each child.
    gc.freeze()
    try:
        serve(listener, persist)
    finally:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        _drain(listener)
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
