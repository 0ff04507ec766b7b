"""The sans-I/O exec core, on bytes: HTTP answers, upgrade, frames, status rules; and the edge."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import threading

import pytest

from launchers.exec import core, edge
from launchers.exec import protocol as p
from launchers.exec.blocking import Client
from launchers.exec.config import ClusterConfig
from launchers.exec.errors import (
    ApiError,
    ConnectionFailed,
    ConnectionLost,
    KubeExecError,
    PodNotFound,
    ProtocolError,
)
from launchers.exec.transport import ExecSession

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def new_core(**kwargs) -> core.ExecCore:
    return core.ExecCore("h:1", "/x", "tok", pod="pod-a", namespace="ns", key=KEY, **kwargs)


def upgrade_answer(protocol: str = p.V5) -> bytes:
    return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {p.accept_key(KEY)}\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode()


def frame(channel: int, data: bytes) -> bytes:
    return p.encode_frame(p.OP_BINARY, bytes([channel]) + data)


SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()


def test_a_whole_session_fed_one_byte_at_a_time():
    c = new_core()
    wire = (upgrade_answer() + frame(p.STDOUT, b"out") + p.encode_frame(p.OP_PING, b"hi")
            + frame(p.STDERR, b"err") + frame(p.ERROR, SUCCESS)
            + p.encode_frame(p.OP_CLOSE, p.close_payload(1000)))
    events = []
    for i in range(len(wire)):
        events += c.receive(wire[i : i + 1])
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Upgraded", "Output", "Send", "Output", "Send", "Closed"]
    assert events[1] == core.Output(p.STDOUT, b"out") and events[3] == core.Output(p.STDERR, b"err")
    pong = p.FrameDecoder().feed(events[2].data)
    assert pong == [p.Message(p.OP_PONG, b"hi")]
    assert c.exit_status() == 0 and c.protocol == p.V5


def test_frames_in_the_same_read_as_the_101_are_not_lost():
    c = new_core()
    events = c.receive(upgrade_answer(p.V4) + frame(p.STDOUT, b"early"))
    assert events == [core.Upgraded(p.V4), core.Output(p.STDOUT, b"early")]
    assert c.close_stdin() == b""  # v4 has no close signal
    assert c.receive(b"") == [core.Closed()]


def test_no_status_is_never_exit_0_by_default():
    """Defect 7: a Close without a status (the idle-timeout kill) used to be exit 0."""
    c = new_core()
    c.receive(upgrade_answer() + p.encode_frame(p.OP_CLOSE, b""))
    with pytest.raises(ConnectionLost, match="idle timeout"):
        c.exit_status()
    lenient = new_core(require_status=False)
    lenient.receive(upgrade_answer() + p.encode_frame(p.OP_CLOSE, b""))
    assert lenient.exit_status() == 0  # client-go's rule, only when asked for
    cut = new_core(require_status=False)
    cut.receive(upgrade_answer())
    cut.receive(b"")
    with pytest.raises(ConnectionLost):  # a bare EOF is never success
        cut.exit_status()


def test_refused_upgrade_waits_for_the_whole_body_and_keeps_retry_after():
    body = json.dumps({"kind": "Status", "message": "slow down", "code": 429}).encode()
    head = (f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 4\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    c = new_core()
    assert c.receive(head.encode() + body[:5]) == []
    with pytest.raises(ApiError) as info:
        c.receive(body[5:])
    assert (info.value.code, info.value.retry_after) == (429, 4.0)
    assert "slow down" in str(info.value)


@pytest.mark.parametrize("encoding", ["chunked", "eof"])
def test_chunked_and_until_eof_bodies(encoding):
    body = json.dumps({"message": 'pods "x" not found'}).encode()
    if encoding == "chunked":
        wire = (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"5;ext=1\r\n" + body[:5] + b"\r\n"
                + f"{len(body) - 5:x}\r\n".encode() + body[5:] + b"\r\n0\r\n\r\n")
    else:
        wire = b"HTTP/1.1 404 Not Found\r\n\r\n" + body
    getter = core.GetCore("h:1", "/api/v1/x", None, target="x", namespace="ns")
    with pytest.raises(PodNotFound):
        for i in range(len(wire)):
            getter.receive(wire[i : i + 1])
        getter.receive(b"")


def test_get_answer_is_the_json_object():
    body = b'{"items": []}'
    getter = core.GetCore("h:1", "/p", "tok")
    assert getter.request().startswith(b"GET /p HTTP/1.1\r\n")
    assert getter.receive(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n" + body) == {
        "items": []}


@pytest.mark.parametrize("wire", [
    b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab",
    b"HTTP/1.1 404 NF\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 503 X\r\nContent-Length: -3\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    upgrade_answer() + bytes([0xF2, 0x00]),
    upgrade_answer() + frame(p.ERROR, b'{"status": "Failure", "details": {"causes": [7]}}'),
    upgrade_answer() + frame(p.ERROR, b'{"status": "Failure", "details": [1]}'),
    upgrade_answer() + frame(p.ERROR, b"\xff\xfe not json"),
    b"x" * (core.MAX_HEAD + 10),
])
def test_garbage_through_either_driver_is_always_one_of_ours(wire):
    """Whatever a server answers, only launchers.exec.errors leave a driver's edge
    (the blocking one used to leak a plain ValueError for a bad chunk size)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer() -> None:
        for _ in range(2):  # one connection per driver
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(wire)
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    config = ClusterConfig(server=f"http://127.0.0.1:{port}")
    try:
        client = Client(config, connect_timeout=5, retry_deadline=0)
        with pytest.raises(KubeExecError):
            session = client.open_exec("pod-a", ["true"], namespace="ns", container=None,
                                       stdin=False, stdout=lambda _: None,
                                       stderr=lambda _: None)
            while session.on_readable():
                pass
            session.exit_status()

        async def over_asyncio() -> int:
            proc = await ExecSession(config, connect_timeout=5, retry_deadline=0).open_exec(
                "pod-a", ["true"], stdin=False)
            return await proc.wait()
        with pytest.raises(KubeExecError):
            asyncio.run(over_asyncio())
    finally:
        thread.join(5)
        server.close()


def test_edge_translation_by_phase():
    refused = ConnectionRefusedError(111, "Connection refused")
    first = edge.translate(refused, edge.CONNECT, "pod-a", "https://s")
    assert isinstance(first, ConnectionFailed) and first.transient
    assert "connection refused" in str(first) and first.target == "pod-a"
    later = edge.translate(ConnectionResetError(104, "reset"), edge.REQUEST, "pod-a", "s")
    assert isinstance(later, ConnectionFailed) and not later.transient
    broke = edge.translate(BrokenPipeError(32, "pipe"), edge.SESSION, "pod-a", "s")
    assert isinstance(broke, ConnectionLost)
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert not edge.translate(untrusted, edge.CONNECT, "p", "s").transient
    assert edge.translate(ssl.SSLEOFError(8, "EOF"), edge.CONNECT, "p", "s").transient
    # mid-session (seen on the real bed: an API server giving up on a slow reader), the
    # message says the server cut it, not that TLS itself failed
    cut = edge.translate(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
                         edge.SESSION, "pod-a", "s")
    assert isinstance(cut, ConnectionLost)
    assert str(cut) == ("pod-a: exec session broke: the server cut the connection "
                        "(TCP closed without a TLS close)")
    weird = edge.translate(ValueError("invalid literal"), edge.SESSION, "p", "s")
    assert isinstance(weird, ProtocolError) and "ValueError" in str(weird)


def test_stdin_frames_stay_within_the_message_limit():
    c = new_core()
    c.receive(upgrade_answer())
    data = os.urandom(100_000)
    decoded = p.FrameDecoder().feed(c.stdin(data))
    assert all(len(m.payload) <= p.MAX_MESSAGE for m in decoded)
    assert b"".join(m.payload[1:] for m in decoded) == data
    assert p.FrameDecoder().feed(c.close_stdin()) == [p.Message(p.OP_BINARY, b"\xff\x00")]
