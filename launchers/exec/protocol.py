"""The Kubernetes exec protocol over WebSocket, client side, as pure functions.

Nothing here does I/O, so every rule is tested on byte strings: WebSocket
framing (RFC 6455, client frames masked), the exec URL, the upgrade request
and its answer, and the channel-3 status that carries the exit code (read as
client-go reads it). The asyncio transport glues these to a socket.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any, NamedTuple, Optional, Sequence
from urllib.parse import quote, urlencode

from launchers.exec.errors import (
    ApiError,
    Forbidden,
    KubeExecError,
    PodNotFound,
    PodNotRunning,
    ProtocolError,
    Unauthorized,
)

# Channels: the first byte of every message.
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5 only: [0xFF, channel] asks the server to close that channel

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
# Offered in order of preference; v5 adds the stdin close signal.
PROTOCOLS = (V5, V4)

# client-go never sends or expects messages above 32 KiB; we keep to that too.
MAX_MESSAGE = 32 * 1024

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_CONTROL = {OP_CLOSE, OP_PING, OP_PONG}
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte masking key (its own inverse).

    Done as one big-integer XOR: far faster in CPython than a byte loop.
    """
    if not payload:
        return b""
    n = len(payload)
    repeated = (key * (n // 4 + 1))[:n]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(n, "big")


def encode_frame(
    opcode: int, payload: bytes, mask_key: Optional[bytes] = None, fin: bool = True
) -> bytes:
    """One WebSocket frame; `mask_key` given => masked (clients must mask).

    `os.urandom(4)` is the caller's business so this stays deterministic.
    """
    head = bytearray([(0x80 if fin else 0) | opcode])
    mask_bit = 0x80 if mask_key is not None else 0
    n = len(payload)
    if n < 126:
        head.append(mask_bit | n)
    elif n < 1 << 16:
        head.append(mask_bit | 126)
        head += n.to_bytes(2, "big")
    else:
        head.append(mask_bit | 127)
        head += n.to_bytes(8, "big")
    if mask_key is None:
        return bytes(head) + payload
    return bytes(head) + mask_key + mask(payload, mask_key)


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked frame with a fresh random key, as a client sends it."""
    return encode_frame(opcode, payload, os.urandom(4))


def channel_message(channel: int, data: bytes) -> bytes:
    """A binary client frame carrying `data` on `channel`."""
    return client_frame(OP_BINARY, bytes([channel]) + data)


def close_payload(code: int = 1000, reason: str = "") -> bytes:
    return code.to_bytes(2, "big") + reason.encode()


class Message(NamedTuple):
    """A complete message (fragments joined) or a control frame."""

    opcode: int
    payload: bytes


class FrameDecoder:
    """Incremental decoder: feed bytes as they arrive, get whole messages back.

    Joins fragmented data messages; control frames (which may sit between
    fragments) are returned at once. Masked frames are unmasked, so the same
    decoder serves a test server too.
    """

    def __init__(self, max_message: int = 64 * 1024 * 1024) -> None:
        self._buf = bytearray()
        self._frag_opcode: Optional[int] = None
        self._frag = bytearray()
        self._max = max_message

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return out
            fin, opcode, payload = frame
            if opcode in _CONTROL:
                if not fin or len(payload) > 125:
                    raise ProtocolError("bad WebSocket control frame")
                out.append(Message(opcode, payload))
            elif opcode == OP_CONT:
                if self._frag_opcode is None:
                    raise ProtocolError("WebSocket continuation without a first fragment")
                self._frag += payload
                if len(self._frag) > self._max:
                    raise ProtocolError("WebSocket message too large")
                if fin:
                    out.append(Message(self._frag_opcode, bytes(self._frag)))
                    self._frag_opcode, self._frag = None, bytearray()
            elif opcode in (OP_TEXT, OP_BINARY):
                if self._frag_opcode is not None:
                    raise ProtocolError("WebSocket data frame inside a fragmented message")
                if fin:
                    out.append(Message(opcode, payload))
                else:
                    self._frag_opcode, self._frag = opcode, bytearray(payload)
            else:
                raise ProtocolError(f"unknown WebSocket opcode {opcode:#x}")

    def _next_frame(self) -> Optional[tuple[bool, int, bytes]]:
        buf = self._buf
        if len(buf) < 2:
            return None
        fin = bool(buf[0] & 0x80)
        if buf[0] & 0x70:
            raise ProtocolError("WebSocket frame uses reserved bits")
        opcode = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        n = buf[1] & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, pos = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, pos = int.from_bytes(buf[2:10], "big"), 10
        if n > self._max:
            raise ProtocolError("WebSocket frame too large")
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key, pos = bytes(buf[pos : pos + 4]), pos + 4
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos : pos + n])
        del buf[: pos + n]
        return fin, opcode, mask(payload, key) if masked else payload


def _flag(value: bool) -> str:
    return "true" if value else "false"


def exec_path(
    namespace: str,
    pod: str,
    argv: Sequence[str],
    container: Optional[str] = None,
    stdin: bool = True,
    stdout: bool = True,
    stderr: bool = True,
    tty: bool = False,
) -> str:
    """Path + query of the exec request: one `command` per argv word, false flags left out."""
    query: list[tuple[str, str]] = [("command", word) for word in argv]
    if container:
        query.append(("container", container))
    for name, value in (("stderr", stderr), ("stdin", stdin), ("stdout", stdout), ("tty", tty)):
        if value:
            query.append((name, _flag(value)))
    ns, name = quote(namespace, safe=""), quote(pod, safe="")
    return f"/api/v1/namespaces/{ns}/pods/{name}/exec?{urlencode(query, quote_via=quote)}"


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value a server must answer to `key`."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def upgrade_request(
    host: str,
    path: str,
    key: str,
    token: Optional[str] = None,
    protocols: Sequence[str] = PROTOCOLS,
) -> bytes:
    """The HTTP/1.1 GET that asks for the WebSocket upgrade."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {', '.join(protocols)}",
        "User-Agent: kubexec",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def get_request(host: str, path: str, token: Optional[str] = None) -> bytes:
    """A plain GET (pod lookups), closing the connection after the answer."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Accept: application/json",
        "Connection: close",
        "User-Agent: kubexec",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_response_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of an HTTP/1.1 response head."""
    try:
        text = head.decode("latin-1")
        status_line, *header_lines = text.split("\r\n")
        version, code, *_ = status_line.split(" ", 2)
        if not version.startswith("HTTP/"):
            raise ValueError(version)
        status = int(code)
    except ValueError as exc:
        raise ProtocolError(f"not an HTTP response: {head[:40]!r}") from exc
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


def check_upgrade(status: int, headers: dict[str, str], key: str) -> str:
    """Validate a 101 answer; returns the negotiated channel protocol."""
    if status != 101:
        raise ProtocolError(f"expected HTTP 101, got {status}")
    if headers.get("upgrade", "").lower() != "websocket":
        raise ProtocolError("server did not upgrade to WebSocket")
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise ProtocolError("bad Sec-WebSocket-Accept from server")
    chosen = headers.get("sec-websocket-protocol", "")
    if chosen not in PROTOCOLS:
        raise ProtocolError(f"server chose no exec protocol we speak ({chosen or 'none'})")
    return chosen


def _load(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _not_running(message: str) -> bool:
    text = message.lower()
    return any(
        hint in text
        for hint in ("completed pod", "not running", "container not found", "has no host")
    )


def http_error(status: int, body: bytes, pod: str, namespace: str) -> ApiError:
    """Translate a refused request (HTTP status + `Status` JSON body) into our errors."""
    message = str(_load(body).get("message") or body[:200].decode("utf-8", "replace").strip())
    if status == 401:
        return Unauthorized(f"unauthorized: {message or 'credentials rejected'}", pod, status)
    if status == 403:
        return Forbidden(f"forbidden: {message}", pod, status)
    if status == 404:
        return PodNotFound(f"no such pod in namespace {namespace}", pod, status)
    if _not_running(message):
        return PodNotRunning(f"pod not running: {message}", pod, status)
    return ApiError(f"API server refused exec (HTTP {status}): {message}", pod, status)


def exit_status(data: bytes, pod: str = "") -> int:
    """Exit code from everything read on channel 3, by client-go's rules.

    Empty => 0; `Success` => 0; `NonZeroExitCode` => its `ExitCode` cause as a
    uint8; any other failure is an error (the command may not have run).
    """
    if not data.strip():
        return 0
    status = _load(data)
    if not status:
        raise ProtocolError(f"unreadable exec status: {data[:80]!r}", pod)
    if status.get("status") == "Success":
        return 0
    message = str(status.get("message", ""))
    causes = (status.get("details") or {}).get("causes") or []
    if status.get("reason") == "NonZeroExitCode":
        for cause in causes:
            if cause.get("reason") == "ExitCode":
                try:
                    code = int(cause.get("message", ""))
                except ValueError:
                    break
                if 0 <= code <= 255:
                    return code
                break
        raise ProtocolError(f"exit code missing in status: {message}", pod)
    text = "; ".join([message] + [str(c.get("message", "")) for c in causes if c.get("message")])
    if _not_running(text):
        return _raise(PodNotRunning(f"pod not running: {text}", pod))
    return _raise(ApiError(f"exec failed: {text}", pod, int(status.get("code") or 0)))


def _raise(error: KubeExecError) -> int:
    raise error


def get_answer(status: int, body: bytes, path: str, pod: str, namespace: str) -> dict[str, Any]:
    """The JSON object a GET answered with, or the error it stands for."""
    if status != 200:
        raise http_error(status, body, pod, namespace)
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise ProtocolError(f"unreadable answer to GET {path}", pod) from exc
    if not isinstance(value, dict):
        raise ProtocolError(f"unexpected answer to GET {path}", pod)
    return value
