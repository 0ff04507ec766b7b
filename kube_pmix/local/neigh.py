"""The kernel's neighbour (ARP) table, sized for every pod of a cluster on one machine.

The table is one for the whole kernel, whatever the network namespace: its
limits (`net.ipv4.neigh.default.gc_thresh1/2/3`, 128/512/1024 by default) are
read in the machine's own namespace and count every pod's entries together.
A pod holds an entry for each peer it talks to, so a prterun on P pods needs
about P in the login pod (every daemon calls back to it) and a few in each
compute pod (its parent and children in PRRTE's routing tree): past about 300
pods the default hard limit of 1024 is hit, the kernel logs "neighbor table
overflow!", and new connections fail (bench.scale at 512 pods: a prted exited
1 mid-job and prterun lost another). Only raised, never lowered: another
cluster, or the machine itself, may need what is there.
"""

from __future__ import annotations

from pathlib import Path

SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")
# Entries per pod: its share of the login pod's P, its own few in PRRTE's tree,
# and room for ranks that talk to dozens of peers (a job whose every rank talks
# to every other over TCP needs P per pod: raise gc_thresh3 by hand for that).
PER_POD = 64
BASE = 1024  # the kernel's default hard limit: what the machine had without us


def thresholds(pods: int) -> dict[str, int]:
    """The limits a cluster of `pods` pods needs (pure): gc_thresh3 hard, gc_thresh2 the
    level above which the kernel collects entries within 5 s."""
    hard = BASE + PER_POD * pods
    return {"gc_thresh2": hard // 2, "gc_thresh3": hard}


def raised(current: dict[str, int], needed: dict[str, int]) -> dict[str, int]:
    """What to write: each limit that is below the need, at the need (pure)."""
    return {name: value for name, value in needed.items() if current.get(name, 0) < value}


def read(root: Path = SYSCTL) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in sorted(root.glob("gc_thresh[123]"))}


def raise_for(pods: int, root: Path = SYSCTL) -> dict[str, int]:
    """Raise the machine's limits to what `pods` pods need; what was written."""
    writes = raised(read(root), thresholds(pods))
    for name, value in writes.items():
        (root / name).write_text(f"{value}\n")
    return writes
