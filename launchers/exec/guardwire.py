"""The records kubexec sends to `kubexec-guard` over the exec session's stdin.

The Kubernetes exec API carries one byte stream to the remote process and no
signals, and v4 cannot even close stdin. So the stream is framed: each record
is a 1-byte kind, a 4-byte big-endian length and the payload.

    D <data>      bytes for the command's stdin
    E             the command's stdin is at EOF
    H             heartbeat: kubexec is alive (also keeps idle sessions open)
    S <signo>     deliver signal number <signo> (1 byte) to the command's group
    K             kubexec is leaving: end the whole tree now (TERM, then KILL)
    X             detach: leave the command running, end the session with status 0
                  (only a guard started with --detachable takes it)

kubexec encodes with this module; the guard in the pod is C
(guard/kubexec-guard.c) and decodes the same bytes: change both together.
Stdlib only and pure: kubexec imports it on every call.
"""

from __future__ import annotations

import struct
from typing import Iterator, Mapping, Optional, Sequence

DATA, EOF, HEARTBEAT, SIGNAL, KILL, DETACH = b"D", b"E", b"H", b"S", b"K", b"X"
KINDS = frozenset((DATA, EOF, HEARTBEAT, SIGNAL, KILL, DETACH))
_HEAD = struct.Struct(">cI")
HEADER_SIZE = _HEAD.size
MAX_PAYLOAD = 1 << 20

GUARD_COMMAND = "kubexec-guard"


def encode(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind, len(payload)) + payload


def data_records(data: bytes, chunk: int) -> Iterator[bytes]:
    """Stdin data as DATA records whose encoded size stays within `chunk` bytes."""
    room = chunk - HEADER_SIZE
    for start in range(0, len(data), room):
        yield encode(DATA, data[start : start + room])


def signal_record(signo: int) -> bytes:
    return encode(SIGNAL, bytes([signo]))


class RecordDecoder:
    """Incremental: feed stream bytes, get complete (kind, payload) records."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buf += data
        out: list[tuple[bytes, bytes]] = []
        while len(self._buf) >= HEADER_SIZE:
            kind, size = _HEAD.unpack_from(self._buf)
            if kind not in KINDS or size > MAX_PAYLOAD:
                raise ValueError(f"bad guard record kind={kind!r} size={size}")
            if len(self._buf) < HEADER_SIZE + size:
                break
            out.append((kind, bytes(self._buf[HEADER_SIZE : HEADER_SIZE + size])))
            del self._buf[: HEADER_SIZE + size]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)


def guard_argv(
    command: Sequence[str],
    heartbeat_timeout: float,
    guard: str = GUARD_COMMAND,
    grace: Optional[float] = None,
    env: Optional[Mapping[str, str]] = None,
    detachable: bool = False,
) -> list[str]:
    """The remote argv that runs `command` under the guard, `env` added to its environment;
    `detachable`: a DETACH record may later end the session and leave `command` running."""
    argv = [guard, "--heartbeat-timeout", _num(heartbeat_timeout)]
    if grace is not None:
        argv += ["--grace", _num(grace)]
    if detachable:
        argv.append("--detachable")
    for name, value in (env or {}).items():
        argv += ["--env", f"{name}={value}"]
    return argv + ["--", *command]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
