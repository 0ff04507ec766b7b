"""The exec client as one I/O-free state machine (h11/wsproto's "sans-I/O").

A driver opens the connection, sends `request()`, then feeds every byte it
reads to `receive()` (b"" at EOF) and acts on the events it gets back: write
`Send.data` to the socket, hand `Output` to stdout/stderr, stop at `Closed`
and ask `exit_status()`. The core never touches a socket or a clock, so every
rule below is tested on bytes (tests/unit/launchers/test_exec_core.py), and the
blocking driver (kubexec) and the asyncio one (launchers) cannot drift apart.

    ExecCore   GET .../exec -> 101 -> WebSocket frames -> status on channel 3
    GetCore    GET a JSON object (pod lookups)

Rules written once here:
- HTTP/1.1 answers: head up to 64 KiB; body by Content-Length, chunked, or
  until EOF. A non-101 answer to the upgrade becomes our error once its body
  (a `Status`) is read, with `Retry-After` kept for launchers.exec.retry.
- The 101 must carry our Sec-WebSocket-Accept and a channel protocol we offered.
- Frames: pings are answered with pongs, a Close is echoed and ends the
  session, data goes to its channel; channel 3 collects the status.
- No status (see `exit_status`): an error, unless the caller asked for
  client-go's lenient rule.
Errors raised are launchers.exec.errors; anything else a driver meets (bugs,
garbage the parsers did not foresee) is translated at its edge (exec.edge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from launchers.exec import protocol as p
from launchers.exec.errors import ApiError, ConnectionFailed, ConnectionLost, ProtocolError
from launchers.exec.retry import parse_retry_after

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024  # a Status or a pod list; a bigger answer is not for us


class Response:
    """A complete HTTP response (for a 101, `body` is empty: the rest is WebSocket)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class ResponseReader:
    """Incremental HTTP/1.1 response parser: `feed()` until it returns the Response.

    A 101 ends at its head; `rest` then holds the bytes that followed it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head: Optional[tuple[int, dict[str, str]]] = None
        self._mode = ""  # "length", "chunked", "eof" once the head is read
        self._length = 0
        self._body = bytearray()
        self.rest = b""

    def feed(self, data: bytes) -> Optional[Response]:
        """Bytes as read (b"" = the server closed); the Response once complete."""
        eof = not data
        self._buf += data
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD:
                    raise ProtocolError("HTTP response head too large")
                if eof:
                    raise ConnectionFailed("the API server closed the connection without an answer")
                return None
            self._head = p.parse_response_head(bytes(self._buf[:end]))
            del self._buf[: end + 4]
            self._pick_mode()
        status, headers = self._head
        if status == 101:
            self.rest = bytes(self._buf)
            return Response(status, headers, b"")
        body = self._read_body(eof)
        if body is None:
            return None
        return Response(status, headers, body)

    def _pick_mode(self) -> None:
        assert self._head is not None
        headers = self._head[1]
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._mode = "chunked"
        elif "content-length" in headers:
            value = headers["content-length"].strip()
            if not value.isdigit():
                raise ProtocolError(f"bad Content-Length {value[:20]!r}")
            self._mode, self._length = "length", int(value)
        else:
            self._mode = "eof"
        if self._mode == "length" and self._length > MAX_BODY:
            raise ProtocolError("HTTP response body too large")

    def _read_body(self, eof: bool) -> Optional[bytes]:
        if self._mode == "length":
            if len(self._buf) >= self._length:
                return bytes(self._buf[: self._length])
        elif self._mode == "chunked":
            if self._chunks():
                return bytes(self._body)
        else:
            if len(self._buf) > MAX_BODY:
                raise ProtocolError("HTTP response body too large")
            if eof:
                return bytes(self._buf)
            return None
        if eof:
            raise ConnectionLost("the API server's answer was cut short")
        return None

    def _chunks(self) -> bool:
        """Move complete chunks from the buffer to the body; True at the last chunk."""
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                return False
            size_text = bytes(buf[:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from exc
            if size < 0:
                raise ProtocolError("bad chunk size")
            if size == 0:
                # The last chunk, then optional trailers, then an empty line.
                rest = bytes(buf[line_end + 2 :])
                return rest.startswith(b"\r\n") or b"\r\n\r\n" in rest
            if len(buf) < line_end + 2 + size + 2:
                return False
            self._body += buf[line_end + 2 : line_end + 2 + size]
            if len(self._body) > MAX_BODY:
                raise ProtocolError("HTTP response body too large")
            del buf[: line_end + 2 + size + 2]


def refused(answer: Response, target: str, namespace: str,
            now: Optional[Callable[[], float]]) -> ApiError:
    """The error a non-101/non-200 answer stands for, with its Retry-After (seconds)."""
    error = p.http_error(answer.status, answer.body, target, namespace)
    when = now() if now is not None else 0.0
    error.retry_after = parse_retry_after(answer.headers.get("retry-after"), when)
    return error


# Events an ExecCore hands its driver: plain slotted classes, not NamedTuples
# (each NamedTuple class costs kubexec ~0.4 ms to create at import).
class _Event:
    __slots__: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Upgraded(_Event):
    """The server accepted the upgrade: the remote command is (being) started."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol


class Output(_Event):
    """Bytes the command wrote on `channel` (p.STDOUT or p.STDERR)."""

    __slots__ = ("channel", "data")

    def __init__(self, channel: int, data: bytes) -> None:
        self.channel = channel
        self.data = data


class Send(_Event):
    """Bytes the driver must write to the socket now (pong, close echo)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class Closed(_Event):
    """The session is over; `ExecCore.exit_status()` says how it ended."""

    __slots__ = ()


if TYPE_CHECKING:
    Event = Union[Upgraded, Output, Send, Closed]


class ExecCore:
    """One exec session, client side: upgrade request, answer, frames, status."""

    def __init__(
        self,
        host_header: str,
        path: str,
        token: Optional[str],
        *,
        pod: str,
        namespace: str,
        require_status: bool = True,
        key: Optional[str] = None,
        now: Optional[Callable[[], float]] = None,
    ) -> None:
        self.pod = pod
        self.namespace = namespace
        self.require_status = require_status
        self.key = key or p.new_key()
        self._request = p.upgrade_request(host_header, path, self.key, token)
        self._now = now
        self._http: Optional[ResponseReader] = ResponseReader()
        self._frames = p.FrameDecoder()
        self._status = bytearray()
        self.protocol = ""
        self.upgraded = False
        self.closed = False
        self.got_close = False

    def request(self) -> bytes:
        return self._request

    def receive(self, data: bytes) -> list[Event]:
        """Feed what was read (b"" at EOF); raises our errors for refused requests."""
        if self.closed:
            return []
        if self._http is not None:
            answer = self._http.feed(data)
            if answer is None:
                return []
            rest, self._http = self._http.rest, None
            if answer.status != 101:
                raise refused(answer, self.pod, self.namespace, self._now)
            self.protocol = p.check_upgrade(answer.status, answer.headers, self.key)
            self.upgraded = True
            events: list[Event] = [Upgraded(self.protocol)]
            if rest or not data:
                events += self._frames_in(rest, eof=not data)
            return events
        return self._frames_in(data, eof=not data)

    def _frames_in(self, data: bytes, eof: bool) -> list[Event]:
        events: list[Event] = []
        for msg in self._frames.feed(data) if data else []:
            if msg.opcode in (p.OP_BINARY, p.OP_TEXT):
                if not msg.payload:
                    continue
                channel, payload = msg.payload[0], msg.payload[1:]
                if channel == p.ERROR:
                    self._status += payload
                    if len(self._status) > MAX_HEAD:
                        raise ProtocolError("exec status too large")
                elif payload and channel in (p.STDOUT, p.STDERR):
                    events.append(Output(channel, payload))
            elif msg.opcode == p.OP_PING:
                events.append(Send(p.client_frame(p.OP_PONG, msg.payload)))
            elif msg.opcode == p.OP_CLOSE:
                events.append(Send(p.client_frame(p.OP_CLOSE, msg.payload[:2])))
                self.got_close = True
                break
        if eof or self.got_close:
            self.closed = True
            events.append(Closed())
        return events

    @property
    def has_status(self) -> bool:
        """Channel 3 said something: the outcome is known even if the stream now breaks."""
        return bool(self._status)

    def stdin(self, data: bytes) -> bytes:
        """Frames carrying `data` on channel 0, each within the 32 KiB message limit."""
        room = p.MAX_MESSAGE - 1
        return b"".join(
            p.channel_message(p.STDIN, data[start : start + room])
            for start in range(0, len(data), room)
        )

    @property
    def can_close_stdin(self) -> bool:
        return self.protocol == p.V5

    def close_stdin(self) -> bytes:
        """v5's close signal for channel 0; b"" on v4, which has none (use the guard)."""
        if not self.can_close_stdin:
            return b""
        return p.client_frame(p.OP_BINARY, bytes([p.CLOSE, p.STDIN]))

    def exit_status(self) -> int:
        """The remote exit status, once `Closed` came.

        The no-status rule: the kubelet's v4/v5 handlers always write a Status on
        channel 3, `Success` included, and v4/v5 are the only protocols we offer.
        client-go reads "ended without a status" as success only to stay compatible
        with v1-v3, which send none on success. For us a missing status therefore
        means the stream was cut (the kubelet's streaming idle timeout, an API server
        restart): reported as ConnectionLost, never as exit 0, guarded or not.
        `require_status=False` restores client-go's lenient rule for a server known
        to omit it, and even then only after a Close frame, never after a bare EOF.
        """
        if not self._status and (self.require_status or not self.got_close):
            raise ConnectionLost(
                "exec session closed before the exit status arrived (idle timeout?)", self.pod
            )
        return p.exit_status(bytes(self._status), self.pod)


class GetCore:
    """One GET of a JSON object, the connection closed after the answer."""

    def __init__(self, host_header: str, path: str, token: Optional[str], *,
                 target: str = "", namespace: str = "",
                 now: Optional[Callable[[], float]] = None) -> None:
        self.path = path
        self._now = now
        self.target = target
        self.namespace = namespace
        self._request = p.get_request(host_header, path, token)
        self._http = ResponseReader()

    def request(self) -> bytes:
        return self._request

    def receive(self, data: bytes) -> Optional[dict[str, Any]]:
        """Feed what was read (b"" at EOF); the JSON object once the answer is complete."""
        answer = self._http.feed(data)
        if answer is None:
            return None
        if answer.status != 200:
            raise refused(answer, self.target, self.namespace, self._now)
        return p.get_answer(answer.status, answer.body, self.path, self.target, self.namespace)
