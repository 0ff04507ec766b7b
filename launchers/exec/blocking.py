"""One exec session over a plain blocking socket, for the kubexec CLI.

kubexec starts once per remote daemon, so its start-up is the cost that
matters: importing asyncio takes ~50 ms, more than the whole exec round trip
on a local cluster. This module does what transport.py does for one session,
with `socket`, `ssl` and a select loop owned by the caller (`fileno`,
`on_readable`). The protocol rules are shared: both call exec.protocol.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any, Callable, Mapping, Optional, Sequence

from launchers.exec import protocol as p
from launchers.exec.config import ClusterConfig
from launchers.exec.errors import ConnectionFailed, ConnectionLost, KubeExecError, ProtocolError

Sink = Callable[[bytes], None]
_MAX_HEAD = 64 * 1024


def reason(exc: BaseException) -> str:
    """A short, lower-case reason for a socket/TLS failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class Connection:
    """A TLS (or plain) connection to the API server, with HTTP/1.1 head/body reading."""

    def __init__(
        self,
        config: ClusterConfig,
        context: Optional[ssl.SSLContext],
        target: str,
        timeout: float,
    ) -> None:
        self.config = config
        self.target = target
        self.buffer = bytearray()
        try:
            raw = socket.create_connection((config.host, config.port), timeout=timeout)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if context is not None:
                name = config.tls_server_name or config.host
                self.sock: socket.socket = context.wrap_socket(raw, server_hostname=name)
            else:
                self.sock = raw
        except OSError as exc:  # ssl.SSLError is an OSError
            raise ConnectionFailed(
                f"cannot reach API server {config.server}: {reason(exc)}", target
            ) from exc

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ConnectionLost(f"exec session broke: {reason(exc)}", self.target) from exc

    def recv(self) -> bytes:
        """What is available now (blocking for the first bytes); b"" at EOF."""
        data = self.sock.recv(65536)
        pending = self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0
        if pending:
            data += self.sock.recv(pending)
        return data

    def _fill(self) -> bool:
        try:
            data = self.recv()
        except OSError as exc:
            raise ConnectionFailed(
                f"no answer from API server {self.config.server}: {reason(exc)}", self.target
            ) from exc
        self.buffer += data
        return bool(data)

    def read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise ProtocolError("HTTP response head too large", self.target)
            if not self._fill():
                raise ConnectionFailed(
                    f"API server {self.config.server} closed the connection", self.target
                )
        end = self.buffer.index(b"\r\n\r\n")
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return p.parse_response_head(head)

    def read_body(self, headers: Mapping[str, str]) -> bytes:
        """The body by Content-Length, chunked encoding, or until EOF."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = headers.get("content-length")
        if length is not None:
            while len(self.buffer) < int(length) and self._fill():
                pass
            return bytes(self.buffer[: int(length)])
        while self._fill():
            pass
        return bytes(self.buffer)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            while b"\r\n" not in self.buffer:
                if not self._fill():
                    raise ConnectionLost("chunked body cut short", self.target)
            line, _, rest = bytes(self.buffer).partition(b"\r\n")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            while len(rest) < size + 2:
                if not self._fill():
                    raise ConnectionLost("chunked body cut short", self.target)
                line, _, rest = bytes(self.buffer).partition(b"\r\n")
            if size == 0:
                return bytes(body)
            body += rest[:size]
            self.buffer = bytearray(rest[size + 2 :])


class Client:
    """Config + one SSL context; plain GETs and exec sessions."""

    def __init__(self, config: ClusterConfig, connect_timeout: float = 20.0) -> None:
        self.config = config
        self.timeout = connect_timeout
        self.context = config.ssl_context()

    def get_json(self, path: str, target: str = "") -> dict[str, Any]:
        conn = Connection(self.config, self.context, target, self.timeout)
        try:
            conn.send(p.get_request(self.config.host_header, self.config.path_prefix + path,
                                    self.config.token))
            status, headers = conn.read_head()
            body = conn.read_body(headers)
        finally:
            conn.close()
        return p.get_answer(status, body, path, target, self.config.namespace)

    def open_exec(
        self,
        pod: str,
        argv: Sequence[str],
        *,
        namespace: str,
        container: Optional[str],
        stdin: bool,
        stdout: Sink,
        stderr: Sink,
        require_status: bool,
    ) -> Session:
        path = self.config.path_prefix + p.exec_path(
            namespace, pod, argv, container=container, stdin=stdin
        )
        key = p.new_key()
        conn = Connection(self.config, self.context, pod, self.timeout)
        try:
            conn.send(p.upgrade_request(self.config.host_header, path, key, self.config.token))
            status, headers = conn.read_head()
            if status != 101:
                raise p.http_error(status, conn.read_body(headers), pod, namespace)
            protocol = p.check_upgrade(status, headers, key)
            conn.sock.settimeout(None)
        except KubeExecError as exc:
            conn.close()
            exc.target = exc.target or pod
            raise
        except BaseException:
            conn.close()
            raise
        return Session(conn, pod, protocol, stdout, stderr, require_status)


class Session:
    """A live exec session: the caller selects on `fileno()` and calls `on_readable()`."""

    def __init__(
        self,
        conn: Connection,
        pod: str,
        protocol: str,
        stdout: Sink,
        stderr: Sink,
        require_status: bool,
    ) -> None:
        self.conn = conn
        self.pod = pod
        self.protocol = protocol
        self.sinks = {p.STDOUT: stdout, p.STDERR: stderr}
        self.require_status = require_status
        self.decoder = p.FrameDecoder()
        self.status = bytearray()
        self.ended = False
        self.got_close = False
        self._early = bytes(conn.buffer)  # frames that came with the 101 answer
        conn.buffer.clear()

    def fileno(self) -> int:
        return self.conn.fileno()

    def has_buffered(self) -> bool:
        return bool(self._early)

    def write_stdin(self, data: bytes) -> None:
        room = p.MAX_MESSAGE - 1
        for start in range(0, len(data), room):
            self.send(p.channel_message(p.STDIN, data[start : start + room]))

    def close_stdin(self) -> None:
        if self.protocol == p.V5:
            self.send(p.client_frame(p.OP_BINARY, bytes([p.CLOSE, p.STDIN])))

    def send(self, frame: bytes) -> None:
        if not self.ended:
            self.conn.send(frame)

    def on_readable(self) -> bool:
        """Process what arrived; False once the session is over (then call `exit_status`)."""
        if self._early:
            data, self._early = self._early, b""
        else:
            try:
                data = self.conn.recv()
            except OSError as exc:
                self.ended = True
                if not self.status:
                    raise ConnectionLost(f"exec session broke: {reason(exc)}", self.pod) from exc
                return False
        if not data:
            self.ended = True
            return False
        try:
            messages = self.decoder.feed(data)
        except ProtocolError as exc:
            exc.target = exc.target or self.pod
            raise
        for msg in messages:
            if msg.opcode in (p.OP_BINARY, p.OP_TEXT) and msg.payload:
                channel, payload = msg.payload[0], msg.payload[1:]
                if channel == p.ERROR:
                    self.status += payload
                elif payload and channel in self.sinks:
                    self.sinks[channel](payload)
            elif msg.opcode == p.OP_PING:
                self.send(p.client_frame(p.OP_PONG, msg.payload))
            elif msg.opcode == p.OP_CLOSE:
                self.send(p.client_frame(p.OP_CLOSE, msg.payload[:2]))
                self.got_close = True
                self.ended = True
                return False
        return True

    def exit_status(self) -> int:
        """The remote status by client-go's rules (stricter when `require_status`)."""
        if not self.status and (self.require_status or not self.got_close):
            raise ConnectionLost(
                "exec session closed before the exit status arrived (idle timeout?)", self.pod
            )
        return p.exit_status(bytes(self.status), self.pod)

    def close(self) -> None:
        self.ended = True
        self.conn.close()
