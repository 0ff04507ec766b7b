"""The transport interface: resolve the hosts once, then start one remote process per call."""

from __future__ import annotations

from typing import Awaitable, Callable, Mapping, Optional, Protocol, Sequence

from launchers.exec.transport import RemoteProcess

Sink = Callable[[bytes], None]
# Awaited before a daemon's output is read again: returns once our own output has
# room (launchers.k8sgo.output), so a stalled reader of ours slows the daemons down
# instead of our buffers growing or our event loop blocking.
Flow = Callable[[], Awaitable[None]]


class Transport(Protocol):
    """What the fan-out engine needs of a transport.

    `prepare` checks credentials and resolves every host before any daemon
    starts (raising the launcher's UnknownHost / NoCredentials / Unreachable),
    so bad input never leaves half a job running. `start` is called under the
    engine's semaphore; it returns once the remote process runs `argv` word for
    word with `env` added to its environment, and raises a
    `launchers.errors.KubeExecError` if it could not be started.
    """

    async def prepare(self, hosts: Sequence[str]) -> None: ...

    async def start(
        self, index: int, host: str, argv: Sequence[str], stdout: Sink, stderr: Sink,
        flow: Optional[Flow] = None, env: Optional[Mapping[str, str]] = None,
    ) -> RemoteProcess: ...

    async def close(self) -> None: ...

    def stats(self) -> dict[str, int]:
        """Counters for the trace's END event (e.g. TLS sessions resumed)."""
        ...
