"""One call handed to the control master: its wire format, names and checks.

    4-byte big-endian length, then NUL-separated fields:
    MAGIC, cwd, argc, argv..., KEY=VALUE...   (with fds 0, 1, 2 by SCM_RIGHTS)

guard/kubexec-front.c writes the same bytes: change both together, and bump
VERSION, which is in MAGIC and in the socket's name, so that a master started
before an upgrade never serves a client of another format. The master's child
checks every request before acting on it (a malformed one could make a child
raise into the master's own code): size, magic, an absolute cwd, argc within
the fields, environment names. Built-in modules only (the client's hot path).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the client 4 ms; mypy reads this name as True
if TYPE_CHECKING:
    from typing import Mapping

VERSION = 2
MAGIC = b"KX%d" % VERSION
MAX_SIZE = 16 << 20  # argv + environment beyond ARG_MAX's 2 MiB (a raised stack limit)
FIRST_CHUNK = 4096  # the fds ride on a small first part


class BadRequest(ValueError):
    """Not a request this master serves."""


def socket_name(tag: str) -> str:
    return f"master-{tag}-v{VERSION}.sock"


def lock_name(tag: str) -> str:
    return f"master-{tag}-v{VERSION}.lock"


def encode(args: list[str], cwd: str, env: Mapping[str, str]) -> bytes:
    """The request; environment entries that putenv could not set again are left out."""
    fields = [MAGIC, os.fsencode(cwd), str(len(args)).encode(), *map(os.fsencode, args)]
    fields += [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()
               if k and "=" not in k]
    body = b"\0".join(fields)
    return len(body).to_bytes(4, "big") + body


def body_size(head: bytes) -> int:
    """The body's length from the 4-byte head, refused past MAX_SIZE."""
    size = int.from_bytes(head[:4], "big")
    if len(head) < 4 or size > MAX_SIZE:
        raise BadRequest(f"request of {size} bytes")
    return size


def decode(body: bytes) -> tuple[list[str], str, dict[str, str]]:
    """(argv, cwd, environment): the first of duplicate entries wins, as for getenv(3)
    and os.environ in a direct call."""
    fields = body.split(b"\0")
    if len(fields) < 3 or fields[0] != MAGIC:
        raise BadRequest("not a kubexec request of this version")
    cwd, count = fields[1], fields[2]
    if not cwd.startswith(b"/") or not count.isdigit() or len(count) > 7:
        raise BadRequest("bad cwd or argument count")
    argc = int(count)
    if argc > len(fields) - 3:
        raise BadRequest("argument count past the end")
    env: dict[str, str] = {}
    for entry in fields[3 + argc :]:
        key, sep, value = entry.partition(b"=")
        if not key or not sep:
            raise BadRequest("bad environment entry")
        env.setdefault(os.fsdecode(key), os.fsdecode(value))
    return [os.fsdecode(f) for f in fields[3 : 3 + argc]], os.fsdecode(cwd), env
