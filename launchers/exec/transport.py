"""Remote processes over the Kubernetes exec API: asyncio, one connection per process.

`ExecSession` holds the config and one SSL context shared by every stream it
opens, so a launcher can start thousands of processes from one event loop (no
thread per pod). `open_exec()` returns an `ExecProcess`; `GuardedProcess` wraps
one that runs under `kubexec-guard` and adds what the API lacks: stdin EOF on
v4, signals and heartbeats. Both have the same shape:

    write(data) / drain()   stdin
    close_stdin()           stdin EOF
    send_signal(signo)      True if it could be delivered
    wait() -> int           remote exit status; raises a KubeExecError
    abort()                 drop the connection

Output goes to the `stdout`/`stderr` callables given at open time, as it
arrives. Socket, TLS and HTTP failures become launchers.exec.errors at this edge.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Callable, Optional, Protocol, Sequence

from launchers import guard_protocol as wire
from launchers.exec import protocol as p
from launchers.exec.blocking import reason
from launchers.exec.config import ClusterConfig
from launchers.exec.errors import (
    ConnectionFailed,
    ConnectionLost,
    KubeExecError,
    ProtocolError,
)

Sink = Callable[[bytes], None]


def _discard(_data: bytes) -> None:
    pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):  # not socket.timeout before Python 3.11
        return "timed out"
    return reason(exc)


class ExecSession:
    """Config + shared SSL context; opens exec streams and makes plain GETs."""

    def __init__(self, config: ClusterConfig, connect_timeout: float = 20.0) -> None:
        self.config = config
        self.connect_timeout = connect_timeout
        self._ssl = config.ssl_context()

    async def _connect(
        self, target: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        cfg = self.config
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(
                    cfg.host,
                    cfg.port,
                    ssl=self._ssl,
                    server_hostname=(cfg.tls_server_name or cfg.host) if self._ssl else None,
                    limit=1 << 20,
                ),
                self.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectionFailed(
                f"cannot reach API server {cfg.server}: {_reason(exc)}", target
            ) from exc

    async def _read_head(
        self, reader: asyncio.StreamReader, target: str
    ) -> tuple[int, dict[str, str]]:
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), self.connect_timeout
            )
        except asyncio.IncompleteReadError as exc:
            raise ConnectionFailed(
                f"API server {self.config.server} closed the connection", target
            ) from exc
        except asyncio.LimitOverrunError as exc:
            raise ProtocolError("HTTP response head too large", target) from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectionFailed(
                f"no answer from API server {self.config.server}: {_reason(exc)}", target
            ) from exc
        return p.parse_response_head(head[:-4])

    async def _read_body(
        self, reader: asyncio.StreamReader, headers: dict[str, str], target: str
    ) -> bytes:
        try:
            if "chunked" in headers.get("transfer-encoding", "").lower():
                return await _read_chunked(reader)
            length = headers.get("content-length")
            if length is not None:
                return await reader.readexactly(int(length))
            return await reader.read()
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            raise ConnectionLost(f"response body cut short: {_reason(exc)}", target) from exc

    async def get_json(self, path: str, target: str = "") -> dict[str, Any]:
        """GET an API path; Status errors become our errors (as for exec)."""
        reader, writer = await self._connect(target)
        try:
            writer.write(
                p.get_request(self.config.host_header, self.config.path_prefix + path,
                              self.config.token)
            )
            status, headers = await self._read_head(reader, target)
            body = await self._read_body(reader, headers, target)
        finally:
            writer.close()
        return p.get_answer(status, body, path, target, self.config.namespace)

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
        require_status: bool = False,
    ) -> ExecProcess:
        """Start `argv` in `pod`; returns once the server accepted the upgrade.

        `require_status`: a session that ends without a channel-3 status is an error
        (client-go would call it success).
        """
        namespace = namespace or self.config.namespace
        path = self.config.path_prefix + p.exec_path(
            namespace, pod, argv, container=container, stdin=stdin
        )
        key = p.new_key()
        reader, writer = await self._connect(pod)
        try:
            writer.write(p.upgrade_request(self.config.host_header, path, key, self.config.token))
            status, headers = await self._read_head(reader, pod)
            if status != 101:
                body = await self._read_body(reader, headers, pod)
                raise p.http_error(status, body, pod, namespace)
            protocol = p.check_upgrade(status, headers, key)
        except KubeExecError as exc:
            writer.close()
            if not exc.target:
                exc.target = pod
            raise
        except BaseException:
            writer.close()
            raise
        return ExecProcess(pod, protocol, reader, writer, stdout or _discard, stderr or _discard,
                           require_status)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


class ExecProcess:
    """One exec session: frames stdin out, dispatches output, collects the status."""

    def __init__(
        self,
        pod: str,
        protocol: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        stdout: Sink,
        stderr: Sink,
        require_status: bool = False,
    ) -> None:
        self.pod = pod
        self.require_status = require_status
        self.protocol = protocol
        self._reader = reader
        self._writer = writer
        self._sinks = {p.STDOUT: stdout, p.STDERR: stderr}
        self._status = bytearray()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._pump())

    @property
    def done(self) -> bool:
        """The session is over (status read, or failed)."""
        return self._task.done()

    @property
    def can_close_stdin(self) -> bool:
        return self.protocol == p.V5

    def _send(self, frame: bytes) -> None:
        if not self._closed and not self._writer.is_closing():
            self._writer.write(frame)

    def write(self, data: bytes) -> None:
        """Queue stdin bytes (split to stay within the 32 KiB message limit)."""
        room = p.MAX_MESSAGE - 1
        for start in range(0, len(data), room):
            self._send(p.channel_message(p.STDIN, data[start : start + room]))

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (OSError, RuntimeError) as exc:
            raise ConnectionLost(f"exec session broke: {_reason(exc)}", self.pod) from exc

    def close_stdin(self) -> None:
        """v5: the close signal for channel 0. v4 has none (use the guard)."""
        if self.can_close_stdin:
            self._send(p.client_frame(p.OP_BINARY, bytes([p.CLOSE, p.STDIN])))

    def send_signal(self, signo: int) -> bool:
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

    async def _pump(self) -> int:
        decoder = p.FrameDecoder()
        got_close = False
        try:
            while not got_close:
                data = await self._reader.read(65536)
                if not data:
                    break
                for msg in decoder.feed(data):
                    if msg.opcode in (p.OP_BINARY, p.OP_TEXT):
                        self._dispatch(msg.payload)
                    elif msg.opcode == p.OP_PING:
                        self._send(p.client_frame(p.OP_PONG, msg.payload))
                    elif msg.opcode == p.OP_CLOSE:
                        self._send(p.client_frame(p.OP_CLOSE, msg.payload[:2]))
                        got_close = True
                        break
        except ProtocolError as exc:
            exc.target = exc.target or self.pod
            raise
        except (OSError, ssl.SSLError) as exc:
            if not self._status:
                raise ConnectionLost(f"exec session broke: {_reason(exc)}", self.pod) from exc
        finally:
            self._closed = True
        if not self._status and (self.require_status or not got_close):
            # client-go reads "closed without a status" as success; a guarded command always
            # ends with a status on v4/v5, so there it means the session was cut
            # (e.g. the kubelet's streaming idle timeout).
            raise ConnectionLost(
                "exec session closed before the exit status arrived (idle timeout?)", self.pod
            )
        return p.exit_status(bytes(self._status), self.pod)

    def _dispatch(self, payload: bytes) -> None:
        if not payload:
            return
        channel, data = payload[0], payload[1:]
        if channel == p.ERROR:
            self._status += data
        elif data and channel in self._sinks:
            self._sinks[channel](data)


class GuardedProcess:
    """An ExecProcess running `kubexec-guard`: framed stdin, signals, heartbeats."""

    def __init__(self, inner: ExecProcess, heartbeat_interval: float) -> None:
        self.inner = inner
        self.pod = inner.pod
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


class RemoteProcess(Protocol):
    """What callers may rely on, whichever transport started the process."""

    pod: str

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close_stdin(self) -> None: ...
    def send_signal(self, signo: int) -> bool: ...
    def abort(self) -> None: ...
    async def wait(self) -> int: ...


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
) -> GuardedProcess:
    """Start `command` under the in-pod guard; stdin is always open (it carries the records)."""
    inner = await session.open_exec(
        pod,
        wire.guard_argv(command, heartbeat_timeout, guard),
        namespace=namespace,
        container=container,
        stdin=True,
        stdout=stdout,
        stderr=stderr,
        require_status=True,
    )
    return GuardedProcess(inner, heartbeat_interval)
