"""The cluster's namespaces: a named network namespace, and the daemon's own mount namespace.

Every process of the cluster is a descendant of its daemon, which first leaves
this machine's mount namespace (keeping later host mounts, giving back none)
and joins the cluster's network namespace. The node's state folders are bind
mounts there, so containerd, the kubelet and CNI run with their usual paths, and
the mounts they make (overlays, secrets, pod network namespaces) die with the
cluster's last process instead of piling up on this machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from pathlib import Path

from . import layout
from .errors import ComponentError

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def netns_path(name: str) -> Path:
    return Path("/run/netns") / layout.netns_name(name)


def node_net_batch() -> str:
    """`ip -batch` lines for the cluster's namespace: its loopback, which also holds the
    node's own address (pods reach it through the CNI bridge, the namespace routes it to
    itself; this machine's kernel has no dummy interfaces). The Service range needs a route
    for the node's own connections to it: kube-proxy's rules rewrite the address only after
    the kernel found one (a real node's default route plays that part)."""
    return (
        "link set lo up\n"
        f"addr add {layout.NODE_IP}/32 dev lo\n"
        f"route add {layout.SERVICE_CIDR} dev lo src {layout.NODE_IP}\n"
    )


def make_netns(name: str) -> None:
    netns = layout.netns_name(name)
    for argv, text in ((["ip", "netns", "add", netns], ""),
                       (["ip", "-n", netns, "-batch", "-"], node_net_batch())):
        done = subprocess.run(argv, input=text.encode(), capture_output=True, check=False)
        if done.returncode != 0:
            why = done.stderr.decode(errors="replace").strip().replace("\n", "; ")
            raise ComponentError("network namespace", f"{' '.join(argv)}: {why}")


def delete_netns(name: str) -> bool:
    if not netns_path(name).exists():
        return False
    subprocess.run(["ip", "netns", "delete", layout.netns_name(name)], check=False,
                   capture_output=True)
    return True


def mount_points(state: layout.StateDir) -> list[tuple[Path, Path]]:
    """(folder of the state directory, node path) for every bind mount of the node."""
    return [(state.node_dir(rel), Path(target)) for target, rel in layout.NODE_MOUNTS]


def missing_mount_points(state: layout.StateDir) -> list[str]:
    """Node paths (and their parents) this machine lacks: `up` creates them empty and `down`
    removes them again, deepest first."""
    targets = [t for _, t in mount_points(state)] + [Path(t) for t in layout.NODE_TMPFS]
    missing: set[str] = set()
    for target in targets:
        for path in (target, *target.parents):
            if path.exists():
                break
            missing.add(str(path))
    return sorted(missing)


def enter(name: str, state: layout.StateDir) -> None:
    """Move the calling (single-threaded) process into the cluster's namespaces and mounts."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # host mounts still reach us; nothing we mount reaches the host
    subprocess.run(["mount", "--make-rslave", "/"], check=True, capture_output=True)
    fd = os.open(netns_path(name), os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns {netns_path(name)}")
    finally:
        os.close(fd)
    for source, target in mount_points(state):
        source.mkdir(parents=True, exist_ok=True)
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True,
                       capture_output=True)
    # containerd's pod network namespaces are bind-mounted files under /run/netns: a
    # tmpfs of our own keeps them (and their mount points) off this machine's /run
    for tmpfs in (*layout.NODE_TMPFS, "/run/netns"):
        Path(tmpfs).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711", "tmpfs", tmpfs],
                       check=True, capture_output=True)
    subprocess.run(["mount", "--bind", str(state.etc / "hosts"), "/etc/hosts"], check=True,
                   capture_output=True)
