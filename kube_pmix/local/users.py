"""The unprivileged pod user: created if missing, with subordinate ids for rootless podman."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

from .errors import SetupError

SUBID_COUNT = 65536


def _next_subid_start(path: Path) -> int:
    start = 100000
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                start = max(start, int(parts[1]) + int(parts[2]))
    return start


def _has_subids(path: Path, user: str, uid: int) -> bool:
    if not path.exists():
        return False
    return any(line.split(":")[0] in (user, str(uid)) for line in path.read_text().splitlines())


def ensure_user(user: str) -> pwd.struct_passwd:
    """The user, with a home and subuid/subgid ranges; created if missing (never changed)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        result = subprocess.run(["useradd", "-m", "-U", "-s", "/bin/bash", user],
                                capture_output=True, text=True)
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SetupError(f"cannot create pod user {user}: {result.stderr.strip()}") from None
    home = Path(entry.pw_dir)
    if not home.is_dir():
        home.mkdir(parents=True, mode=0o755)
        os.chown(home, entry.pw_uid, entry.pw_gid)
    for path, option in ((Path("/etc/subuid"), "--add-subuids"),
                         (Path("/etc/subgid"), "--add-subgids")):
        if not _has_subids(path, user, entry.pw_uid):
            start = _next_subid_start(path)
            result = subprocess.run(
                ["usermod", option, f"{start}-{start + SUBID_COUNT - 1}", user],
                capture_output=True, text=True)
            if result.returncode != 0:
                raise SetupError(f"cannot give {user} subordinate ids ({path}): "
                                 f"{result.stderr.strip()}")
    return entry


def unreachable_parent(path: Path) -> Path | None:
    """The first directory on the way to `path` that others cannot traverse, if any."""
    for parent in reversed(path.resolve().parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            return parent
    return None


def check_venv_usable(venv: Path, entry: pwd.struct_passwd) -> None:
    """The pod user runs <venv>/bin/*: prove it by running its python as that user."""
    python = venv / "bin" / "python"
    blocked = unreachable_parent(venv / "bin")
    probe = subprocess.run(
        ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups",
         "--", str(python), "-c", "import kube_pmix"],
        capture_output=True, text=True, cwd="/",
    )
    if probe.returncode != 0 or blocked is not None:
        why = (f"{blocked} is not world-executable (chmod o+x {blocked})" if blocked
               else probe.stderr.strip().splitlines()[-1] if probe.stderr.strip()
               else f"exit status {probe.returncode}")
        raise SetupError(f"pod user {entry.pw_name} cannot run {python}: {why}")


def podman_store(entry: pwd.struct_passwd) -> Path:
    """Where the user's rootless podman keeps its images and containers."""
    return Path(entry.pw_dir, ".local", "share", "containers")


def check_podman_store(entry: pwd.struct_passwd) -> None:
    """Each pod binds a store of its own over the user's: without one to bind over, every
    pod's podman would share the host's (and fight over its locks). Podman makes it the
    first time it runs as the user; with no podman here, no pod runs one."""
    store = podman_store(entry)
    if shutil.which("podman") is not None and not store.is_dir():
        raise SetupError(f"pod user {entry.pw_name} has no podman store {store}, which each "
                         f"pod replaces with its own: run scripts/setup-rootless-podman.sh "
                         f"{entry.pw_name} (or any podman command as {entry.pw_name})")
