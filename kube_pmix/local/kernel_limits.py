"""Two kernel limits that every pod of a local cluster shares, sized for the cluster's pods.

All pods of a local cluster are network namespaces of one kernel on one bridge,
and two of the kernel's limits count them all together (read and written in the
machine's own namespace; the defaults suit a machine, not a thousand of them):

- the neighbour (ARP) table, `net.ipv4.neigh.default.gc_thresh2/3` (512/1024).
  A pod holds an entry for each peer it talks to: a prterun on P pods needs
  about P in the login pod (every daemon calls back to it) and a few in each
  compute pod (its parent and children in PRRTE's routing tree). bench.scale at
  512 pods overflowed it ("neighbor table overflow!"): a prted lost its
  connection mid-job.
- the per-CPU receive backlog, `net.core.netdev_max_backlog` (1000). The
  bridge floods a broadcast (an ARP request) to every port at once, one copy
  per pod queued on the backlog; past 1000 pods the copies fill it and the
  bridge's own ARP reply is dropped behind them: at 1020 pods no pod could
  reach the API server ("No route to host").

Only raised, never lowered: another cluster, or the machine itself, may need
what is there.
"""

from __future__ import annotations

from pathlib import Path

SYSCTL = Path("/proc/sys")
# Neighbour entries per pod: its share of the login pod's P, its own few in PRRTE's
# tree, and room for ranks that talk to dozens of peers (a job whose every rank talks
# TCP to every other needs P per pod: raise gc_thresh3 by hand for that).
NEIGH_PER_POD = 64
NEIGH_BASE = 1024  # the kernel's default hard limit: what the machine had without us
# Backlog: a broadcast's copy per pod, and as much again for what arrives meanwhile.
BACKLOG_PER_POD = 2
BACKLOG_BASE = 1000  # the kernel's default

NEIGH = "net/ipv4/neigh/default"
BACKLOG = "net/core/netdev_max_backlog"


def needed(pods: int) -> dict[str, int]:
    """The limits a cluster of `pods` pods needs, by their path under /proc/sys (pure)."""
    # the defaults where they suffice: a demo-sized cluster leaves the machine as it was
    hard = max(NEIGH_BASE, NEIGH_PER_POD * pods)
    return {f"{NEIGH}/gc_thresh2": hard // 2, f"{NEIGH}/gc_thresh3": hard,
            BACKLOG: max(BACKLOG_BASE, BACKLOG_PER_POD * pods)}


def raised(current: dict[str, int], need: dict[str, int]) -> dict[str, int]:
    """What to write: each limit that is below the need, at the need (pure)."""
    return {name: value for name, value in need.items() if current.get(name, 0) < value}


def read(names: list[str], root: Path = SYSCTL) -> dict[str, int]:
    return {name: int((root / name).read_text()) for name in names}


def raise_for(pods: int, root: Path = SYSCTL) -> dict[str, int]:
    """Raise the machine's limits to what `pods` pods need; what was written."""
    need = needed(pods)
    writes = raised(read(list(need), root), need)
    for name, value in writes.items():
        (root / name).write_text(f"{value}\n")
    return writes
