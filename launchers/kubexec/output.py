"""kubexec's stdout/stderr: a bounded buffer, so a slow reader never stops the select loop.

Before, kubexec wrote output with blocking writes: a reader that paused (a
busy PRRTE event loop) blocked kubexec, its heartbeats stopped and the guard
killed the remote job. Now a pipe or socket is written non-blocking; what
does not fit waits here, and while either buffer holds `LIMIT` bytes kubexec
stops reading the exec socket, so TCP flow control, not a dead heartbeat,
slows the remote writer down. The loop keeps running for heartbeats and signals.

Terminals and regular files keep blocking writes (they do not stall for long,
and O_NONBLOCK on a terminal is shared with the user's shell).
"""

from __future__ import annotations

import contextlib
import os
import select
import stat

LIMIT = 1 << 20


class OutputBuffer:
    """Output for one fd; call `flush()` when it is writable and `finish()` at the end."""

    def __init__(self, fd: int, limit: int = LIMIT) -> None:
        self.fd = fd
        self.limit = limit
        self.buf = bytearray()
        self.broken = False
        self._restore = False
        try:
            mode = os.fstat(fd).st_mode
            self.buffered = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
            if self.buffered and os.get_blocking(fd):
                os.set_blocking(fd, False)
                self._restore = True
        except OSError:  # closed fd: nothing will be read, so nothing to keep
            self.buffered, self.broken = False, True

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
        if self._restore:
            with contextlib.suppress(OSError):
                os.set_blocking(self.fd, True)
