"""The asyncio driver of the exec core: many remote processes from one event loop.

`ExecSession` holds the config and one SSL context shared by every stream it
opens, so a launcher can start thousands of processes from one loop (no thread
per pod). `open_exec()` returns an `ExecProcess`; `GuardedProcess` wraps one that
runs under `kubexec-guard` and adds what the API lacks: stdin EOF on v4,
signals and heartbeats. Both have the same shape (`RemoteProcess`):

    write(data) / drain()   stdin
    close_stdin()           stdin EOF
    send_signal(signo)      True if it could be delivered
    wait() -> int           remote exit status; raises a KubeExecError
    run(check) -> CompletedProcess
    abort()                 drop the connection

Output goes to the `stdout`/`stderr` callables given at open time, as it
arrives. The protocol is exec.core's; this module only moves bytes. Every
socket/TLS/HTTP failure becomes launchers.exec.errors in one place, `edge.at_edge()`.
Transient failures before the command may have started are retried (exec.retry)
until `retry_deadline`; after the 101 nothing is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Awaitable, Callable, Mapping, Optional, Protocol, Sequence, TypeVar

from launchers.exec import core, resume, retry
from launchers.exec import guardwire as wire
from launchers.exec import protocol as p
from launchers.exec.config import ClusterConfig
from launchers.exec.edge import REQUEST, SESSION, Phase, at_edge
from launchers.exec.errors import KubeExecError
from launchers.exec.process import CompletedProcess, completed

Sink = Callable[[bytes], None]
# Awaited before each read of a session's stream: a caller whose own output is full
# holds the reads back (flow control) instead of buffering without bound.
Flow = Callable[[], Awaitable[None]]
T = TypeVar("T")
_READ = 65536


def _discard(_data: bytes) -> None:
    pass


# asyncio.TimeoutError is not the builtin TimeoutError before Python 3.11.
_TIMEOUTS = (asyncio.TimeoutError,)


def _edge(phase: Phase, target: str, server: str) -> contextlib.AbstractContextManager[None]:
    return at_edge(phase, target, server, _TIMEOUTS)


class _Waited(asyncio.TimeoutError):
    """A timeout that knows how long it waited (the edge puts it in the message)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:.3g} s")
        self.seconds = seconds


async def _within(aw: Awaitable[T], seconds: float) -> T:
    try:
        return await asyncio.wait_for(aw, seconds)
    except asyncio.TimeoutError:
        raise _Waited(seconds) from None


class ExecSession:
    """Config + shared SSL context; opens exec streams and makes plain GETs.

    Every connection after the first resumes an earlier one's TLS session
    (exec.resume): the certificate work is done once per server, not per daemon.
    """

    def __init__(self, config: ClusterConfig, connect_timeout: float = 20.0,
                 retry_deadline: Optional[float] = None) -> None:
        """`retry_deadline`: how long (s) one open may keep retrying; default connect_timeout."""
        self.config = config
        self.connect_timeout = connect_timeout
        self.retry_deadline = connect_timeout if retry_deadline is None else retry_deadline
        self.tls_sessions = resume.SessionCache()
        # a context of our own: the cache is installed on it
        ctx = config.ssl_context(shared=False)
        self._ssl = None if ctx is None else self.tls_sessions.install(ctx)

    async def _connect(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        cfg = self.config
        return await _within(
            asyncio.open_connection(
                cfg.host,
                cfg.port,
                ssl=self._ssl,
                server_hostname=(cfg.tls_server_name or cfg.host) if self._ssl else None,
                limit=1 << 20,
            ),
            timeout,
        )

    async def _retrying(self, attempt_once: Callable[[float], Awaitable[T]]) -> T:
        """Run `attempt_once(timeout)` until it succeeds or exec.retry says stop."""
        deadline = time.monotonic() + self.retry_deadline
        attempt = 0
        while True:
            timeout = max(0.01, min(self.connect_timeout, deadline - time.monotonic()))
            try:
                return await attempt_once(timeout)
            except KubeExecError as exc:
                delay = retry.next_delay(exc, attempt, deadline - time.monotonic())
                if delay is None:
                    if attempt:
                        exc.reason += f" (gave up after {attempt + 1} attempts)"
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def get_json(self, path: str, target: str = "") -> dict[str, Any]:
        """GET an API path; Status errors become our errors (as for exec)."""
        return await self._retrying(lambda timeout: self._get_once(path, target, timeout))

    async def _get_once(self, path: str, target: str, timeout: float) -> dict[str, Any]:
        cfg = self.config
        getter = core.GetCore(cfg.host_header, cfg.path_prefix + path, cfg.bearer_token,
                              target=target, namespace=cfg.namespace, now=time.time)
        phase = Phase()
        with _edge(phase, target, cfg.server):
            reader, writer = await self._connect(timeout)
            try:
                phase.now = REQUEST
                writer.write(getter.request())
                while True:
                    data = await _within(reader.read(_READ), self.connect_timeout)
                    answer = getter.receive(data)
                    if answer is not None:
                        self.tls_sessions.keep(writer)
                        return answer
            finally:
                writer.close()

    async def open_exec(
        self,
        pod: str,
        argv: Sequence[str],
        *,
        namespace: Optional[str] = None,
        container: Optional[str] = None,
        stdin: bool = True,
        stdout: Optional[Sink] = None,
        stderr: Optional[Sink] = None,
        require_status: bool = True,
        flow: Optional[Flow] = None,
    ) -> ExecProcess:
        """Start `argv` in `pod`; returns once the server accepted the upgrade.

        `require_status=False`: client-go's lenient rule (a Close without a status is
        exit 0); see core.ExecCore.exit_status for why the default is strict.
        `flow`: awaited before each read of the stream (see `Flow`).
        """
        namespace = namespace or self.config.namespace
        return await self._retrying(lambda timeout: self._open_once(
            pod, argv, namespace or "", container, stdin, stdout or _discard,
            stderr or _discard, require_status, timeout, flow))

    async def _open_once(self, pod: str, argv: Sequence[str], namespace: str,
                         container: Optional[str], stdin: bool, stdout: Sink, stderr: Sink,
                         require_status: bool, timeout: float,
                         flow: Optional[Flow] = None) -> ExecProcess:
        cfg = self.config
        path = cfg.path_prefix + p.exec_path(namespace, pod, argv, container=container,
                                             stdin=stdin)
        session_core = core.ExecCore(cfg.host_header, path, cfg.bearer_token, pod=pod,
                                     namespace=namespace, require_status=require_status,
                                     now=time.time)
        phase = Phase()
        with _edge(phase, pod, cfg.server):
            reader, writer = await self._connect(timeout)
            try:
                phase.now = REQUEST
                writer.write(session_core.request())
                early: list[core.Event] = []
                while not session_core.upgraded:
                    data = await _within(reader.read(_READ), self.connect_timeout)
                    early = session_core.receive(data)
                self.tls_sessions.keep(writer)
            except BaseException:
                writer.close()
                raise
        return ExecProcess(session_core, reader, writer, cfg.server, stdout, stderr, early,
                           command=" ".join(argv), flow=flow)

    async def run(
        self,
        pod: str,
        command: Sequence[str],
        *,
        input: Optional[bytes] = None,  # noqa: A002 - subprocess' and asyncssh's name
        check: bool = False,
        guarded: bool = False,
        heartbeat_interval: float = 5.0,
        heartbeat_timeout: float = 20.0,
        namespace: Optional[str] = None,
        container: Optional[str] = None,
    ) -> CompletedProcess:
        """Run `command` to its end with output collected (asyncssh's `conn.run`)."""
        out, err = bytearray(), bytearray()
        proc: RemoteProcess
        if guarded:
            proc = await open_guarded(self, pod, command, heartbeat_interval=heartbeat_interval,
                                      heartbeat_timeout=heartbeat_timeout, namespace=namespace,
                                      container=container, stdout=out.extend, stderr=err.extend)
        else:
            proc = await self.open_exec(pod, command, namespace=namespace, container=container,
                                        stdout=out.extend, stderr=err.extend)
        try:
            if input:
                proc.write(input)
                await proc.drain()
            proc.close_stdin()
            status = await proc.wait()
        except BaseException:
            proc.abort()
            raise
        return completed(" ".join(command), status, bytes(out), bytes(err), pod, check)


class ExecProcess:
    """One exec session: feeds the core what the socket reads, acts on its events."""

    def __init__(
        self,
        session_core: core.ExecCore,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        server: str,
        stdout: Sink,
        stderr: Sink,
        early: Sequence[core.Event] = (),
        command: str = "",
        flow: Optional[Flow] = None,
    ) -> None:
        self.core = session_core
        self.pod = session_core.pod
        self.protocol = session_core.protocol
        self.command = command
        self._reader = reader
        self._writer = writer
        self._server = server
        self._phase = Phase()
        self._phase.now = SESSION
        self._sinks = {p.STDOUT: stdout, p.STDERR: stderr}
        self._flow = flow
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._pump(list(early)))

    @property
    def done(self) -> bool:
        """The session is over (status read, or failed)."""
        return self._task.done()

    @property
    def can_close_stdin(self) -> bool:
        return self.core.can_close_stdin

    def _send(self, data: bytes) -> None:
        if data and not self._closed and not self._writer.is_closing():
            self._writer.write(data)

    def write(self, data: bytes) -> None:
        """Queue stdin bytes (split to stay within the 32 KiB message limit)."""
        self._send(self.core.stdin(data))

    async def drain(self) -> None:
        with _edge(self._phase, self.pod, self._server):
            await self._writer.drain()

    def close_stdin(self) -> None:
        """v5: the close signal for channel 0. v4 has none (use the guard)."""
        self._send(self.core.close_stdin())

    def send_signal(self, signo: int) -> bool:
        return False

    def kill_tree(self) -> bool:
        """No guard, so nobody in the pod to ask: `abort` is all there is."""
        return False

    def detach(self) -> bool:
        return False

    def abort(self) -> None:
        self._closed = True
        self._writer.close()
        self._task.cancel()

    async def wait(self) -> int:
        """The remote exit status, once the server ended the session."""
        try:
            return await asyncio.shield(self._task)
        finally:
            if self._task.done():
                self._writer.close()

    async def run(self, check: bool = False) -> CompletedProcess:
        """Wait, as a record (output was streamed to the sinks, so not collected here)."""
        return completed(self.command, await self.wait(), target=self.pod, check=check)

    async def _pump(self, events: list[core.Event]) -> int:
        try:
            with _edge(self._phase, self.pod, self._server):
                while True:
                    for event in events:
                        if isinstance(event, core.Output):
                            self._sinks[event.channel](event.data)
                        elif isinstance(event, core.Send):
                            self._send(event.data)
                    if self.core.closed:
                        return self.core.exit_status()
                    if self._flow is not None:
                        await self._flow()
                    try:
                        data = await self._reader.read(_READ)
                    except OSError:
                        if not self.core.has_status:
                            raise
                        data = b""  # broke after the status came: the outcome is known
                    events = self.core.receive(data)
        finally:
            self._closed = True


class GuardedProcess:
    """An ExecProcess running `kubexec-guard`: framed stdin, signals, heartbeats."""

    def __init__(self, inner: ExecProcess, heartbeat_interval: float) -> None:
        self.inner = inner
        self.pod = inner.pod
        self.command = inner.command
        self._eof_sent = False
        self._beat: Optional[asyncio.Task[None]] = None
        if heartbeat_interval > 0:
            self._beat = asyncio.get_running_loop().create_task(
                self._heartbeats(heartbeat_interval)
            )

    async def _heartbeats(self, interval: float) -> None:
        while True:
            self.inner.write(wire.encode(wire.HEARTBEAT))
            await asyncio.sleep(interval)

    def write(self, data: bytes) -> None:
        for record in wire.data_records(data, p.MAX_MESSAGE - 1):
            self.inner.write(record)

    async def drain(self) -> None:
        await self.inner.drain()

    def close_stdin(self) -> None:
        if not self._eof_sent:
            self._eof_sent = True
            self.inner.write(wire.encode(wire.EOF))

    def send_signal(self, signo: int) -> bool:
        self.inner.write(wire.signal_record(signo))
        return True

    def kill_tree(self) -> bool:
        """The guard's KILL record: it ends the command's whole tree now."""
        self.inner.write(wire.encode(wire.KILL))
        return True

    def detach(self) -> bool:
        """The guard's DETACH record (a guard started `detachable` only): the session ends
        with status 0 and the command runs on; no heartbeats are due after it."""
        self._stop()
        self.inner.write(wire.encode(wire.DETACH))
        return True

    def abort(self) -> None:
        self._stop()
        self.inner.abort()

    def _stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()

    async def wait(self) -> int:
        try:
            return await self.inner.wait()
        finally:
            if self.inner.done:
                self._stop()

    async def run(self, check: bool = False) -> CompletedProcess:
        return completed(self.command, await self.wait(), target=self.pod, check=check)


class RemoteProcess(Protocol):
    """What callers may rely on, whichever transport started the process."""

    pod: str

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close_stdin(self) -> None: ...
    def send_signal(self, signo: int) -> bool: ...
    def kill_tree(self) -> bool: ...  # False: this transport cannot (no guard)
    def detach(self) -> bool: ...  # False: this transport cannot (no guard)
    def abort(self) -> None: ...
    async def wait(self) -> int: ...
    async def run(self, check: bool = False) -> CompletedProcess: ...


async def open_guarded(
    session: ExecSession,
    pod: str,
    command: Sequence[str],
    *,
    heartbeat_interval: float = 5.0,
    heartbeat_timeout: float = 20.0,
    guard: str = wire.GUARD_COMMAND,
    namespace: Optional[str] = None,
    container: Optional[str] = None,
    stdout: Optional[Sink] = None,
    stderr: Optional[Sink] = None,
    flow: Optional[Flow] = None,
    env: Optional[Mapping[str, str]] = None,
    detachable: bool = False,
) -> GuardedProcess:
    """Start `command` under the in-pod guard, with `env` added to its environment; stdin is
    always open (it carries the records).

    `heartbeat_interval <= 0` sends no heartbeats, so the guard is told to keep no
    deadline either (`--heartbeat-timeout 0`), or every command would die at it.
    """
    inner = await session.open_exec(
        pod,
        wire.guard_argv(command, heartbeat_timeout if heartbeat_interval > 0 else 0, guard,
                        env=env, detachable=detachable),
        namespace=namespace,
        container=container,
        stdin=True,
        stdout=stdout,
        stderr=stderr,
        require_status=True,
        flow=flow,
    )
    inner.command = " ".join(command)
    return GuardedProcess(inner, heartbeat_interval)
