"""The cluster's cgroup subtree: one root in every v1 hierarchy (and the unified one).

The kubelet puts every pod under it (`cgroupRoot`), and the daemon moves itself
into `<root>/control-plane` before it starts anything, so every process of the
cluster, containers included, is inside the subtree. `down` freezes it, kills
what is left and removes the folders: nothing of a cluster survives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Iterator

MOUNTINFO = Path("/proc/self/mountinfo")
CONTROL_PLANE = "control-plane"


def hierarchies() -> list[Path]:
    """Mount points of the cgroup file systems (v1 hierarchies and the unified one)."""
    found = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split(" - ", 1)
        if len(fields) != 2:
            continue
        fstype = fields[1].split()[0]
        if fstype in ("cgroup", "cgroup2"):
            found.append(Path(fields[0].split()[4]))
    return found


def _cpuset_init(path: Path) -> None:
    """A new v1 cpuset group has no CPUs or memory nodes until given its parent's."""
    for leaf in ("cpuset.cpus", "cpuset.mems"):
        mine = path / leaf
        if mine.exists() and not mine.read_text().strip():
            mine.write_text((path.parent / leaf).read_text())


def create(root: str) -> None:
    for hierarchy in hierarchies():
        for path in (hierarchy / root.lstrip("/"), hierarchy / root.lstrip("/") / CONTROL_PLANE):
            path.mkdir(exist_ok=True)
            _cpuset_init(path)


def join_control_plane(root: str, pid: int = 0) -> None:
    """Move `pid` (0: the caller) into `<root>/control-plane` in every hierarchy."""
    for hierarchy in hierarchies():
        procs = hierarchy / root.lstrip("/") / CONTROL_PLANE / "cgroup.procs"
        if procs.exists():
            procs.write_text(f"{pid or os.getpid()}\n")


def _groups(root: str) -> Iterator[Path]:
    """Every folder of the subtree in every hierarchy, deepest first."""
    for hierarchy in hierarchies():
        top = hierarchy / root.lstrip("/")
        if top.is_dir():
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                yield Path(dirpath)


def pids(root: str) -> set[int]:
    found: set[int] = set()
    for group in _groups(root):
        try:
            found.update(int(p) for p in (group / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return found


def _freeze(root: str, state: str) -> None:
    for hierarchy in hierarchies():
        leaf = hierarchy / root.lstrip("/") / "freezer.state"
        if leaf.exists():
            with contextlib.suppress(OSError):
                leaf.write_text(state)


def kill_all(root: str, timeout: float = 10.0) -> set[int]:
    """SIGKILL every process of the subtree (frozen first, so none can fork away); returns
    the pids still there after `timeout` (none, unless the kernel holds them)."""
    deadline = time.monotonic() + timeout
    while True:
        left = pids(root) - {os.getpid()}
        if not left or time.monotonic() > deadline:
            _freeze(root, "THAWED")
            return left
        _freeze(root, "FROZEN")
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _freeze(root, "THAWED")
        time.sleep(0.05)


def remove(root: str) -> list[str]:
    """rmdir the subtree in every hierarchy; returns the folders that could not go."""
    stuck = []
    for group in _groups(root):
        try:
            group.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            stuck.append(f"{group}: {exc.strerror}")
    return stuck


def exists(root: str) -> bool:
    return any((h / root.lstrip("/")).is_dir() for h in hierarchies())
