"""A pod's pid 1: prepares the pod's mount and UTS namespaces, then reaps orphans until killed.

Started by `unshare` inside fresh namespaces (see netns.unshare_pod). It prints
`ready` on stdout once the pod's file system view is in place. Killing it
(SIGKILL from the host) makes the kernel kill every other process of the pod.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import pwd
import signal
import socket
import sys
from pathlib import Path

from .config import ClusterConfig
from .errors import SetupError
from .layout import (
    POD_BASIC_LAUNCHER,
    POD_CERTS_D,
    POD_HPC_ETC,
    POD_HPC_ROOT,
    POD_PRRTE,
    POD_SA_DIR,
    POD_SECRETS_ROOT,
    POD_USER,
    venv_dir,
)
from .users import check_podman_store, podman_store
from .validation import pod_errors

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), flags, data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def bind(source: str, target: str, read_only: bool = False) -> None:
    mount(source, target, "", MS_BIND)
    if read_only:
        mount("", target, "", MS_BIND | MS_REMOUNT | MS_RDONLY)


def tmpfs(target: str, mode: str) -> None:
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode}")


def private_tmp() -> None:
    """A /tmp of the pod's own; a kube-pmix checkout that lives in the host's /tmp stays visible.

    Pods run kube-pmix, PRRTE and the examples from the host's file system; when
    that install sits under /tmp (a CI clone, say), it is bind-mounted back at
    the same path inside the new tmpfs.
    """
    keep = venv_dir().parent
    held = None
    if keep.is_relative_to("/tmp") and keep != Path("/tmp"):
        held = os.open(keep, os.O_PATH)  # still names the host's directory after the mount
    tmpfs("/tmp", "1777")
    if held is not None:
        keep.mkdir(parents=True, mode=0o755)
        bind(f"/proc/self/fd/{held}", str(keep))
        os.close(held)


def prepare(pod: str, state_dir: Path) -> None:
    """Hostname, private /tmp and /dev/shm, and the cluster's shared files at pod paths."""
    socket.sethostname(pod)
    private_tmp()
    tmpfs("/dev/shm", "1777")
    bind(str(state_dir / "hosts"), "/etc/hosts", read_only=True)
    if (state_dir / "profile").is_file() and os.path.isfile("/etc/profile"):
        bind(str(state_dir / "profile"), "/etc/profile", read_only=True)  # bash -l keeps PATH
    tmpfs(POD_HPC_ROOT, "755")
    os.mkdir(POD_HPC_ETC, 0o755)
    bind(str(state_dir / "hpc-etc"), POD_HPC_ETC, read_only=True)
    tmpfs(POD_SECRETS_ROOT, "755")
    sa_dir = Path(POD_SECRETS_ROOT, *Path(POD_SA_DIR).parts[-2:])
    sa_dir.mkdir(parents=True, mode=0o755)
    bind(str(state_dir / "serviceaccount"), str(sa_dir), read_only=True)
    if (state_dir / "certs.d").is_dir():  # the cluster's image registry, trusted by podman
        bind(str(state_dir / "certs.d"), POD_CERTS_D, read_only=True)
    seed_paths(ClusterConfig.load(state_dir / "config.json").prrte)
    podman_per_pod(pod, state_dir)
    # Rootless podman wants a shared root mount. The pod's mounts are private
    # copies, so this makes peer groups inside the pod only: nothing reaches the host.
    mount("", "/", "", MS_REC | MS_SHARED)


def seed_paths(prrte: str) -> None:
    """The paper's paths, as in the images, so its commands and FAQ run as typed: the rank
    wrapper, the k8sgo launcher, and the PRRTE with plm/k8sgo (when one was built)."""
    local_bin = Path(POD_HPC_ROOT, "local", "bin")
    local_bin.mkdir(parents=True, mode=0o755)
    (local_bin / "wrap-container.sh").symlink_to(venv_dir() / "bin" / "wrap-container")
    launcher = Path(POD_BASIC_LAUNCHER)
    launcher.parent.mkdir(parents=True, mode=0o755, exist_ok=True)
    launcher.symlink_to(venv_dir() / "bin" / "basic_launcher")
    if prrte:
        Path(POD_PRRTE).symlink_to(prrte)


def podman_per_pod(pod: str, state_dir: Path) -> None:
    """Give the pod user's rootless podman a runtime dir and an image store of the pod's own.

    Each node of a real cluster has its own: a shared /run/user/UID would make
    podman in every pod join one pause process (and see another pod's /tmp),
    and a shared store would let pods fight over its locks. Images are then
    pulled or loaded once per pod, as the paper does once per node.
    """
    try:
        user = pwd.getpwnam(POD_USER)
    except KeyError:
        return
    check_podman_store(user)  # `up` checked it too: this pod must not share the store
    store = podman_store(user)
    if os.path.isdir("/run/user"):
        tmpfs("/run/user", "755")
        runtime = f"/run/user/{user.pw_uid}"
        os.mkdir(runtime, 0o700)
        os.chown(runtime, user.pw_uid, user.pw_gid)
    if store.is_dir():  # no podman here: no store, nothing to share
        own = state_dir / "pods" / pod / "containers"
        own.mkdir(parents=True, mode=0o700, exist_ok=True)
        for path in (own, own.parent):
            os.chown(path, user.pw_uid, user.pw_gid)
        bind(str(own), str(store))


def reap_forever() -> None:
    """Adopted orphans must be reaped, or they pile up as zombies in the pod."""
    signals = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    while True:
        sig = signal.sigwait(signals)
        if sig != signal.SIGCHLD:
            return
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kube-pmix-pause")
    parser.add_argument("--cluster", required=True)  # for `down` to find us by command line
    parser.add_argument("--pod", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    invalid = pod_errors(args.pod, None, None)
    if invalid:  # the API refuses such names; never let one into a path
        print(f"pod {args.pod!r}: {invalid[0]}", file=sys.stderr, flush=True)
        return 2
    try:
        prepare(args.pod, args.state_dir)
    except (OSError, SetupError) as exc:
        print(f"pod {args.pod}: {exc}", file=sys.stderr, flush=True)
        return 1
    print("ready", flush=True)
    os.close(1)
    os.open(os.devnull, os.O_WRONLY)
    reap_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
