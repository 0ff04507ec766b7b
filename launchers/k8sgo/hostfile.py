"""Hostfile text -> the ordered list of hosts. Pure (reading the file is `read_hostfile`).

One host per line, in order; blank lines and `#` comments are skipped and
trailing tokens such as `slots=4` ignored (PRRTE's own hostfile syntax). The
line order is the daemon index: line i gets `PRTE_ESS_K8SGO_ID=i`, so a
duplicate would start two daemons on one pod and is refused. A host may carry
a user (`user@host`, as in PRRTE's hostfiles): the ssh transport logs in as
that user; the exec API has no such choice and ignores it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from launchers.k8sgo.errors import HostfileError


def split_user(host: str) -> tuple[Optional[str], str]:
    """`user@host` -> (user, host); a plain host -> (None, host)."""
    user, at, name = host.rpartition("@")
    return (user or None, name) if at else (None, host)


def _key(host: str) -> str:
    # DNS names are case-insensitive and may end with the root dot; the user is not the host.
    return split_user(host)[1].lower().rstrip(".")


def parse_hostfile(text: str, source: str = "hostfile") -> list[str]:
    """The hosts of `text` in order; HostfileError if there are none or one repeats."""
    hosts: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        host = words[0]
        key = _key(host)
        if not key:
            raise HostfileError(f"{source}:{number}: empty host name {host!r}")
        if key in seen:
            raise HostfileError(
                f"{source}:{number}: duplicate host {host} (first on line {seen[key]})"
            )
        seen[key] = number
        hosts.append(host)
    if not hosts:
        raise HostfileError(f"{source}: no hosts in the hostfile")
    return hosts


def read_hostfile(path: str) -> list[str]:
    """Read and parse the hostfile at `path`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise HostfileError(f"{path}: hostfile not found") from None
    except OSError as exc:
        raise HostfileError(f"{path}: cannot read hostfile: {exc.strerror}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise HostfileError(f"{path}: hostfile is not UTF-8 text") from None
    return parse_hostfile(text, path)
