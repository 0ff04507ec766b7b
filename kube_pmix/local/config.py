"""A cluster's fixed settings: written once by `up`, read by the daemon, `down` and the fixture."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Iterable, Optional

SUBNET_BASE = "10.244"


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    nodes: int
    subnet_index: int
    idle_timeout: Optional[float]
    admin_token: str
    sa_token: str
    restricted_token: str
    venv: str
    uid: int
    gid: int
    home: str
    user: str
    # The image registry's port on 127.0.0.1; 0: the cluster has no registry.
    registry_port: int = 0

    @property
    def subnet(self) -> IPv4Network:
        """The pod network: a /24 per cluster, so that two clusters can coexist."""
        return IPv4Network(f"{SUBNET_BASE}.{self.subnet_index}.0/24")

    @property
    def gateway(self) -> IPv4Address:
        """The bridge's address: also where the API listens for pods (the service address)."""
        return self.subnet.network_address + 1

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> ClusterConfig:
        return cls(**json.loads(path.read_text()))


def pick_subnet_index(name: str, taken: Iterable[int]) -> int:
    """A third octet derived from the name (stable across runs), skipping those in use."""
    used = set(taken)
    start = zlib.crc32(name.encode()) % 250 + 1
    for step in range(250):
        index = (start - 1 + step) % 250 + 1
        if index not in used:
            return index
    raise ValueError("every 10.244.N.0/24 subnet is in use")
