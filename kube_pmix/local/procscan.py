"""What of a local cluster runs on this machine, found from /proc and `ip netns`.

`down` relies on it after a crash, when no pidfile can be trusted: processes
are recognised by their command lines (pids get reused), pods by their
namespaces.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Optional, Sequence

from .layout import StateDir

PAUSE_MODULE = "kube_pmix.local.pause"
DAEMON_MODULE = "kube_pmix.local.daemon"


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def daemon_pid(state: StateDir) -> Optional[int]:
    """The live daemon's pid, checked by command line (pids get reused)."""
    try:
        pid = int(state.daemon_pid.read_text())
    except (OSError, ValueError):
        return None
    line = cmdline(pid)
    return pid if DAEMON_MODULE in line and state.root.name in line else None


def owned_by_other_live_process(name: str) -> bool:
    """True when cluster `name` runs and the process that brought it up is alive and not us."""
    state = StateDir.of(name)
    if daemon_pid(state) is None:
        return False
    try:
        owner = int(state.owner.read_text())
    except (OSError, ValueError):
        return False
    return owner != os.getpid() and Path(f"/proc/{owner}").exists()


def pause_pids(name: str) -> list[int]:
    """Pause processes of cluster `name`, found by command line: works after a crash too."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = cmdline(int(entry.name))
            if PAUSE_MODULE in line and "--cluster" in line:
                i = line.index("--cluster")
                if i + 1 < len(line) and line[i + 1] == name:
                    found.append(int(entry.name))
    return found


def registry_pids(state: StateDir) -> list[int]:
    """The cluster's image registry process, found by command line (after a crash too)."""
    from .registry import is_registry_of

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            words = [w for w in cmdline(int(entry.name)) if w]
            if is_registry_of(words, state.registry_config):
                found.append(int(entry.name))
    return found


def list_netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and cmdline(p) != [""]]
    return alive


def pids_in_namespace(kind: str, target: str) -> list[int]:
    """Host pids whose /proc/PID/ns/KIND is `target` (a readlink of one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(f"/proc/{entry.name}/ns/{kind}") == target:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
