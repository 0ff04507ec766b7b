"""kubexec's stdout/stderr: a bounded buffer, so a slow reader never stops the select loop.

Before, kubexec wrote output with blocking writes: a reader that paused (a
busy PRRTE event loop) blocked kubexec, its heartbeats stopped and the guard
killed the remote job. Now a pipe or socket is written non-blocking; what
does not fit waits here, and while either buffer holds `LIMIT` bytes kubexec
stops reading the exec socket, so TCP flow control, not a dead heartbeat,
slows the remote writer down. The loop keeps running for heartbeats and signals.

Terminals and regular files keep blocking writes (they do not stall for long,
and O_NONBLOCK on a terminal is shared with the user's shell).

O_NONBLOCK belongs to the open file description, which every process holding
the same pipe shares (a launcher, sibling kubexecs): setting it and clearing it
at exit undid it under a sibling still running. So a pipe is reopened through
/proc/self/fd, which gives this process a description of its own, and a socket
is written with MSG_DONTWAIT; the shared flag is touched only without /proc.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import stat
from typing import Optional

LIMIT = 1 << 20


class OutputBuffer:
    """Output for one fd; call `flush()` when it is writable and `finish()` at the end."""

    def __init__(self, fd: int, limit: int = LIMIT) -> None:
        self.fd = fd  # what the loop selects on and we write to
        self.limit = limit
        self.buf = bytearray()
        self.broken = False
        self.buffered = False
        self._restore = False  # the shared description was made non-blocking: undo at exit
        self._own = False  # self.fd is our own description of the pipe: close at exit
        self._sock: Optional[socket.socket] = None
        try:
            mode = os.fstat(fd).st_mode
        except OSError:  # closed fd: nothing will be read, so nothing to keep
            self.broken = True
            return
        if stat.S_ISSOCK(mode):
            self._sock = socket.socket(fileno=os.dup(fd))
            self.buffered = True
        elif stat.S_ISFIFO(mode):
            self.buffered = True
            try:
                self.fd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                self._own = True
            except OSError:  # no /proc (or no reader left): the shared flag, as before
                if os.get_blocking(fd):
                    os.set_blocking(fd, False)
                    self._restore = True

    @property
    def full(self) -> bool:
        """Stop reading the socket: the reader is this far behind."""
        return len(self.buf) >= self.limit

    @property
    def pending(self) -> bool:
        return bool(self.buf)

    def __call__(self, data: bytes) -> None:
        if self.broken or not data:
            return
        if self.buf:
            self.buf += data
            return
        rest = self._write(memoryview(data))
        if rest:
            self.buf += rest

    def flush(self) -> None:
        """Write what the fd takes now (call when select says it is writable)."""
        if self.buf:
            rest = self._write(memoryview(self.buf))
            self.buf = bytearray(rest)

    def _write(self, view: memoryview) -> bytes:
        """Write `view`; returns what did not fit (only ever non-empty when buffered)."""
        while view and not self.broken:
            try:
                if self._sock is not None:
                    view = view[self._sock.send(view, socket.MSG_DONTWAIT) :]
                else:
                    view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                if self.buffered:
                    return bytes(view)
                select.select([], [self.fd], [])  # left non-blocking by someone else
            except OSError:  # EPIPE etc.: the reader is gone; drop the rest, as ssh does
                self.broken = True
        return b""

    def finish(self) -> None:
        """At exit: write the rest (waiting for the reader), then restore the fd's mode."""
        while self.buf and not self.broken:
            select.select([], [self.fd], [])
            self.flush()
        self.buf.clear()
        with contextlib.suppress(OSError):
            if self._restore:
                os.set_blocking(self.fd, True)
                self._restore = False
            if self._own:
                os.close(self.fd)
                self._own = False
            if self._sock is not None:
                self._sock.close()
                self._sock = None
