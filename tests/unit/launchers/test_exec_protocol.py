"""The exec protocol's pure parts, against RFC 6455's own examples and client-go's rules."""

from __future__ import annotations

import json

import pytest

from launchers.exec import protocol as p
from launchers.exec.errors import (
    ApiError,
    Forbidden,
    PodNotFound,
    PodNotRunning,
    ProtocolError,
    Unauthorized,
)

HELLO_MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def test_rfc6455_single_frame_unmasked_text():
    assert p.encode_frame(p.OP_TEXT, b"Hello") == bytes([0x81, 0x05]) + b"Hello"


def test_rfc6455_single_frame_masked_text():
    expected = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert p.encode_frame(p.OP_TEXT, b"Hello", HELLO_MASK) == expected
    assert p.FrameDecoder().feed(expected) == [p.Message(p.OP_TEXT, b"Hello")]


def test_rfc6455_fragmented_message_is_joined():
    frames = bytes([0x01, 0x03]) + b"Hel" + bytes([0x80, 0x02]) + b"lo"
    assert p.FrameDecoder().feed(frames) == [p.Message(p.OP_TEXT, b"Hello")]


def test_control_frame_between_fragments_comes_out_first():
    frames = (
        bytes([0x02, 0x02]) + b"\x01a"
        + bytes([0x89, 0x05]) + b"Hello"
        + bytes([0x80, 0x01]) + b"b"
    )
    assert p.FrameDecoder().feed(frames) == [
        p.Message(p.OP_PING, b"Hello"),
        p.Message(p.OP_BINARY, b"\x01ab"),
    ]


def test_rfc6455_ping_and_lengths_16_and_64_bit():
    assert p.encode_frame(p.OP_PING, b"Hello") == bytes([0x89, 0x05]) + b"Hello"
    assert p.encode_frame(p.OP_BINARY, b"x" * 256)[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    big = p.encode_frame(p.OP_BINARY, b"x" * 65536)
    assert big[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])


def test_decoder_handles_bytes_arriving_one_at_a_time():
    payload = bytes(range(256)) * 300
    wire = p.encode_frame(p.OP_BINARY, payload, b"\x01\x02\x03\x04")
    decoder = p.FrameDecoder()
    got = []
    for i in range(len(wire)):
        got += decoder.feed(wire[i : i + 1])
    assert got == [p.Message(p.OP_BINARY, payload)]


def test_client_frames_are_masked_with_fresh_keys():
    a, b = p.channel_message(p.STDIN, b"data"), p.channel_message(p.STDIN, b"data")
    assert a[1] & 0x80 and a != b
    assert p.FrameDecoder().feed(a) == [p.Message(p.OP_BINARY, b"\x00data")]


def test_bad_frames_are_protocol_errors():
    with pytest.raises(ProtocolError):
        p.FrameDecoder().feed(bytes([0x80, 0x01]) + b"x")  # continuation with no start
    with pytest.raises(ProtocolError):
        p.FrameDecoder().feed(bytes([0xC2, 0x00]))  # reserved bit
    with pytest.raises(ProtocolError):
        p.FrameDecoder().feed(bytes([0x09, 0x00]))  # fragmented control frame


def test_rfc6455_accept_key_example():
    assert p.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_exec_path_like_kubectl_sorted_and_false_flags_left_out():
    path = p.exec_path("ns", "p1", ["/bin/sh", "-c", "echo a&b"], container="c2", stdin=False)
    assert path == (
        "/api/v1/namespaces/ns/pods/p1/exec?command=%2Fbin%2Fsh&command=-c"
        "&command=echo%20a%26b&container=c2&stderr=true&stdout=true"
    )


def test_upgrade_request_offers_v5_then_v4_and_sends_token():
    req = p.upgrade_request("h:1", "/x", "k", token="T").decode()
    assert req.startswith("GET /x HTTP/1.1\r\nHost: h:1\r\n") and req.endswith("\r\n\r\n")
    assert "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n" in req
    assert "Authorization: Bearer T\r\n" in req
    assert "Authorization" not in p.upgrade_request("h:1", "/x", "k").decode()


def test_check_upgrade():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    status, headers = p.parse_response_head(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: v4.channel.k8s.io"
    )
    assert p.check_upgrade(status, headers, key) == p.V4
    with pytest.raises(ProtocolError):
        p.check_upgrade(status, {**headers, "sec-websocket-protocol": ""}, key)
    with pytest.raises(ProtocolError):
        p.check_upgrade(status, headers, "other-key")
    with pytest.raises(ProtocolError):
        p.parse_response_head(b"SSH-2.0-OpenSSH")


def _failure(reason: str, message: str, causes: list[dict[str, str]]) -> bytes:
    return json.dumps({"metadata": {}, "status": "Failure", "reason": reason,
                       "message": message, "details": {"causes": causes}}).encode()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", 0),
        (b'{"metadata":{},"status":"Success"}', 0),
        (_failure("NonZeroExitCode", "exit code 3", [{"reason": "ExitCode", "message": "3"}]), 3),
        (_failure("NonZeroExitCode", "x", [{"reason": "ExitCode", "message": "255"}]), 255),
        (_failure("NonZeroExitCode", "x", [{"reason": "Other"}, {"reason": "ExitCode",
                                                                   "message": "137"}]), 137),
    ],
)
def test_exit_status_table(data, code):
    assert p.exit_status(data, "pod") == code


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (_failure("NonZeroExitCode", "x", [{"reason": "ExitCode", "message": "abc"}]),
         ProtocolError),
        (_failure("NonZeroExitCode", "x", [{"reason": "ExitCode", "message": "300"}]),
         ProtocolError),
        (_failure("InternalError", "Internal error occurred",
                  [{"message": 'unable to upgrade connection: container not found ("c1")'}]),
         PodNotRunning),
        (_failure("InternalError", "boom", []), ApiError),
        (b"not json", ProtocolError),
    ],
)
def test_exit_status_failures(data, error):
    with pytest.raises(error) as info:
        p.exit_status(data, "pod-x")
    assert info.value.target == "pod-x"


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (401, "Unauthorized", Unauthorized),
        (403, 'pods "p" is forbidden: User "u" cannot get resource "pods/exec"', Forbidden),
        (404, 'pods "p" not found', PodNotFound),
        (400, "cannot exec into a container in a completed pod; current phase is Succeeded",
         PodNotRunning),
        (400, "container c9 is not valid for pod p", ApiError),
        (500, "etcd down", ApiError),
    ],
)
def test_http_errors_are_translated(status, message, error):
    body = json.dumps({"kind": "Status", "message": message, "code": status}).encode()
    exc = p.http_error(status, body, "p", "ns")
    assert type(exc) is error
    assert exc.target == "p" and str(exc).startswith("p: ")
    if error is PodNotFound:
        assert "namespace ns" in str(exc)
