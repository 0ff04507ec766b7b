"""What test beds change on this machine as a whole, recorded once for all of them.

Two things outside a bed's own namespaces and state: the machine-wide kernel
settings every kubelet sets at start (sysctls.KUBELET_SETS), and the empty mount
points its mount namespace needs where this machine has no such folder
(nodens.missing_mount_points). Several beds may run side by side, so the record
(`machine.json` beside the state directories) is made by the first bed that
comes up, with the values from before any kubelet, and carried out by the last
one that goes down: the settings back, the folders removed. A lock file orders
the beds' updates.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Callable, Iterator

from . import layout, sysctls

RECORD = "machine.json"
LOCK = ".machine.lock"


@contextlib.contextmanager
def locked() -> Iterator[Path]:
    layout.STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(layout.STATE_ROOT / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield layout.STATE_ROOT / RECORD


def claim(missing: list[str]) -> None:
    """A bed is coming up: record the machine as it is (unless a running bed already did),
    then create the mount points it lacks."""
    with locked() as record:
        data = json.loads(record.read_text()) if record.exists() else {
            "sysctls": sysctls.snapshot(), "created": []}
        created = set(data["created"])
        for path in missing:
            if not Path(path).exists():
                Path(path).mkdir(parents=True)
                created.add(path)
        data["created"] = sorted(created)
        record.write_text(json.dumps(data, indent=1))


def release(others_running: Callable[[], bool]) -> list[str]:
    """A bed went down: when no other runs, give the machine back. Returns what could not be."""
    with locked() as record:
        if others_running() or not record.exists():
            return []
        data = json.loads(record.read_text())
        failed = [f"sysctl {key}" for key in sysctls.restore(data.get("sysctls", {}))]
        for path in sorted(data.get("created", []), reverse=True):  # deepest first
            try:
                Path(path).rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror}")
        record.unlink()
    with contextlib.suppress(OSError):
        (layout.STATE_ROOT / LOCK).unlink()
    return failed
