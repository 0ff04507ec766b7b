"""Our stdout/stderr for the daemons' output: bounded, and never blocking the event loop.

The launcher's descriptors are prterun's (a terminal, a pipe into `less`,
a file). A write there can block for as long as the reader pleases; on the
event loop that would stop every heartbeat, and the guards would end every
daemon. So a thread of its own does the blocking writes, and the loop only
queues. (Making the descriptor non-blocking instead would change it for
prterun and the terminal too: the flag belongs to the shared open file.)

The queue is bounded by flow control, not by dropping: above `high` bytes
queued `ready()` waits, and the transports await it before reading a daemon's
stream again, so a stalled reader slows the daemons' output down, as a full
pipe would, while the heartbeats go on. It opens again below `low`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import select
import threading
from typing import Optional

HIGH = 1 << 20
LOW = HIGH // 4


class Output:
    """Daemon output to one descriptor, written by a thread of its own."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop, high: int = HIGH,
                 low: int = LOW) -> None:
        self.fd = fd
        self.high = high
        self.low = low
        self._loop = loop
        self._chunks: collections.deque[bytes] = collections.deque()
        self._queued = 0
        self._closing = False
        self._broken = False
        self._cond = threading.Condition()
        self._open = asyncio.Event()
        self._open.set()
        self._thread: Optional[threading.Thread] = None

    @property
    def queued(self) -> int:
        return self._queued

    def write(self, data: bytes) -> None:
        """Queue `data` (called on the event loop; returns at once)."""
        if not data or self._broken:
            return
        with self._cond:
            self._chunks.append(bytes(data))
            self._queued += len(data)
            if self._queued >= self.high:
                self._open.clear()
            self._cond.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name=f"output-{self.fd}",
                                            daemon=True)
            self._thread.start()

    async def ready(self) -> None:
        """Returns once the queue is below `high` (at once, mostly)."""
        await self._open.wait()

    def close(self, timeout: float) -> bool:
        """Stop after what is queued; wait up to `timeout` s. True if all was written."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        return self._queued == 0 or self._broken

    def _drain(self) -> None:
        while True:
            with self._cond:
                while not self._chunks and not self._closing:
                    self._cond.wait()
                if not self._chunks:
                    return
                chunk = self._chunks.popleft()
            self._write_all(chunk)
            with self._cond:
                self._queued -= len(chunk)
                reopen = self._queued <= self.low and not self._open.is_set()
            if reopen:
                self._wake()

    def _write_all(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view and not self._broken:
            try:
                view = view[os.write(self.fd, view):]
            except InterruptedError:
                continue
            except BlockingIOError:  # someone made the descriptor non-blocking: wait for room
                select.select([], [self.fd], [])
                continue
            except OSError:
                # our reader went away: the rest is dropped, and readers never wait again
                # (the daemons run on until prterun or a signal ends them)
                self._broken = True
                self._wake()

    def _wake(self) -> None:
        """Open the gate from the writer thread (a loop that has ended waits for nobody)."""
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._open.set)


async def both_ready(outputs: tuple[Output, ...]) -> None:
    """The transports' flow hook: every output has room."""
    for output in outputs:
        await output.ready()
