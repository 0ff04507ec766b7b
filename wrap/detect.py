"""Gather what this machine offers (the Host record), cheaply: a few stat calls.

This runs once per rank, so it looks up only what the builder may need, and
avoids shutil (its import pulls in the compression modules: ~3.5 ms).
"""

from __future__ import annotations

import os
import posixpath

from . import mounts
from .settings import Host, Options

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Mapping, Optional

FUSE_DEVICE = "/dev/fuse"


def which(name: str, path_var: Optional[str]) -> Optional[str]:
    """The executable `name` resolves to on PATH (a name with a slash: itself)."""
    if "/" in name:
        return name if os.access(name, os.X_OK) and not os.path.isdir(name) else None
    for folder in (path_var or os.defpath).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def _prrte_prefix(path_var: Optional[str]) -> Optional[str]:
    """The install prefix of the `prte` on PATH (its bin dir's parent)."""
    for name in ("prte", "prterun"):
        found = which(name, path_var)
        if found:
            return posixpath.dirname(posixpath.dirname(os.path.realpath(found)))
    return None


def _fuse_usable() -> bool:
    return os.path.exists(FUSE_DEVICE) and os.access(FUSE_DEVICE, os.R_OK | os.W_OK)


def detect(environ: Mapping[str, str], options: Options) -> Host:
    """The Host record for building `options` under `environ`."""
    path_var = environ.get("PATH")
    names = ["podman", "docker"]
    wanted = options.runtime or environ.get("WRAP_RUNTIME")
    if wanted and wanted != "auto":
        names.append(wanted)
    found = {name: which(name, path_var) for name in dict.fromkeys(names)}
    candidates = mounts.named_dirs(environ, inject_prrte=True)
    try:
        cwd = os.getcwd()
    except FileNotFoundError:  # the directory was removed under us
        cwd = "/"
    return Host(
        which=found,
        uid=os.geteuid(),
        gid=os.getegid(),
        cwd=cwd,
        existing_dirs=frozenset(d for d in candidates if os.path.isdir(d)),
        fuse_usable=_fuse_usable(),
        prrte_prefix=_prrte_prefix(path_var) if options.inject_prrte else None,
    )
