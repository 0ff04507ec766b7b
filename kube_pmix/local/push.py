"""Putting an image of this machine into a local cluster's registry, as the pod user.

Rootless podman is the pod user's (that is whose store the images are built in,
and who runs podman in the pods); the cluster's CA lives in its root-only state,
so it is handed over through a private folder the user can read, as
`podman push --cert-dir` wants it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from .errors import LocalClusterError


class PushError(LocalClusterError):
    exit_code = 7


def as_user(entry: pwd.struct_passwd, argv: Sequence[str]) -> list[str]:
    """ARGV run as the user, with a login-like environment (rootless podman needs
    HOME and XDG_RUNTIME_DIR; nothing of the caller's leaks in)."""
    return [
        "setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups", "--",
        "env", "-i", f"HOME={entry.pw_dir}", f"USER={entry.pw_name}",
        f"LOGNAME={entry.pw_name}", f"XDG_RUNTIME_DIR=/run/user/{entry.pw_uid}",
        "PATH=/usr/local/bin:/usr/bin:/bin", *argv,
    ]


def push_argv(cert_dir: str, local_ref: str, target: str) -> list[str]:
    return ["podman", "push", "-q", "--cert-dir", cert_dir, local_ref, target]


def push(entry: pwd.struct_passwd, registry: str, ca_file: str, local_ref: str,
         repo_tag: str, timeout: float = 900) -> None:
    """`podman push LOCAL_REF REGISTRY/REPO_TAG` as the user, trusting the cluster's CA."""
    with tempfile.TemporaryDirectory(prefix="kube-pmix-ca-") as certs:
        os.chown(certs, entry.pw_uid, entry.pw_gid)
        shutil.copyfile(ca_file, Path(certs) / "ca.crt")
        os.chown(Path(certs) / "ca.crt", entry.pw_uid, entry.pw_gid)
        argv = as_user(entry, push_argv(certs, local_ref, f"{registry}/{repo_tag}"))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd="/")
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise PushError(f"pushing {local_ref} to {registry}: {lines[-1]}")


def stop_podman_pause(entry: pwd.struct_passwd) -> bool:
    """Ends the user's rootless podman pause process on this machine, if one runs.

    Any rootless podman command leaves it behind to hold the user namespace for
    the next one; after a build or push run for the user, nothing of ours should
    stay. True if one was ended. Checked by owner and command line: pids are reused.
    """
    pidfile = Path(f"/run/user/{entry.pw_uid}/libpod/tmp/pause.pid")
    try:
        pid = int(pidfile.read_text())
        owner = os.stat(f"/proc/{pid}").st_uid
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return False
    if owner != entry.pw_uid or not comm.startswith("podman"):  # comm: "podman pause"
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        pidfile.unlink()
    return True
