"""Just enough of the protobuf wire format to read what kubectl sends as protobuf.

Clients built on client-go send built-in types as `application/vnd.kubernetes.protobuf`
when the server may take it (kubectl's SelfSubjectAccessReview among them): a
`k8s\\0` magic, then a runtime.Unknown message whose `raw` field holds the object.
Only length-delimited and varint fields are read: the types involved have no others.
"""

from __future__ import annotations

from typing import Iterator, Union

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

Value = Union[int, bytes]


class WireError(ValueError):
    """Not a message this reader understands."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def fields(data: bytes) -> Iterator[tuple[int, Value]]:
    """(field number, value) of each field of a message, in order."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif kind == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise WireError("truncated field")
            yield number, data[pos:pos + size]
            pos += size
        else:
            raise WireError(f"unsupported wire type {kind}")


def message(data: bytes) -> dict[int, Value]:
    """The fields of a message by number (the last one wins, as in protobuf)."""
    return dict(fields(data))


def unwrap(body: bytes) -> bytes:
    """The object inside a Kubernetes protobuf envelope (runtime.Unknown's `raw`, field 2)."""
    if not body.startswith(MAGIC):
        raise WireError("no k8s protobuf magic")
    raw = message(body[len(MAGIC):]).get(2, b"")
    if not isinstance(raw, bytes):
        raise WireError("no raw object")
    return raw


def text(msg: dict[int, Value], number: int) -> str:
    value = msg.get(number, b"")
    return value.decode() if isinstance(value, bytes) else ""
