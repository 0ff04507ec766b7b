"""Argument lists for the kernel plumbing of the local cluster (`ip`, `unshare`, `nsenter`).

Pure builders returning list[str], plus one async runner. A pod is a set of
namespaces held by its pause process; the pod's network namespace is unnamed,
so it and its veth vanish with the pause process. Only the bridge namespace is
named (`kp-<cluster>`), so `down` can find it after a crash.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import sys
from ipaddress import IPv4Address, IPv4Network
from typing import Optional, Sequence

BRIDGE = "br0"
POD_IFACE = "eth0"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class CommandError(RuntimeError):
    """A plumbing command failed; the message carries the command and its stderr."""


def netns_add(netns: str) -> list[str]:
    return ["ip", "netns", "add", netns]


def netns_delete(netns: str) -> list[str]:
    return ["ip", "netns", "delete", netns]


def ip_batch(netns: Optional[str] = None) -> list[str]:
    """`ip -batch -` (optionally in a named namespace): one process for many commands."""
    return ["ip", *(["-n", netns] if netns else []), "-batch", "-"]


def bridge_batch(gateway: IPv4Address, subnet: IPv4Network) -> str:
    """Commands that make the bridge; it owns the gateway address, where the API also listens."""
    return (
        "link set lo up\n"
        f"link add {BRIDGE} type bridge\n"
        f"addr add {gateway}/{subnet.prefixlen} dev {BRIDGE}\n"
        f"link set {BRIDGE} up\n"
    )


def veth_batch(veth: str, pause_pid: int) -> str:
    """Bridge-side commands: a veth pair whose far end is born inside the pod's namespace."""
    return (
        f"link add {veth} type veth peer name {POD_IFACE} netns {pause_pid}\n"
        f"link set {veth} master {BRIDGE} up\n"
    )


def pod_net_batch(ip: IPv4Address, subnet: IPv4Network) -> str:
    """Pod-side commands, run in the pod's network namespace. No default route on purpose:
    nothing outside the cluster is reachable, and a missing route fails at once."""
    return (
        "link set lo up\n"
        f"addr add {ip}/{subnet.prefixlen} dev {POD_IFACE}\n"
        f"link set {POD_IFACE} up\n"
    )


def unshare_pod(python: str, cluster: str, pod: str, state_dir: str) -> list[str]:
    """The pod's pause process: pid 1 of fresh net/uts/ipc/mount/pid namespaces."""
    return [
        "unshare", "--net", "--uts", "--ipc", "--mount", "--pid", "--fork", "--mount-proc",
        "--propagation", "private", "--",
        python, "-m", "kube_pmix.local.pause",
        "--cluster", cluster, "--pod", pod, "--state-dir", state_dir,
    ]


@functools.cache
def tool(name: str) -> str:
    """Absolute path of a host tool: the exec chain runs with the pod's PATH, which a pod spec
    may change, so the chain's own tools are not looked up through it."""
    return shutil.which(name, path=HOST_PATH) or name


def enter_pod(pause_pid: int) -> list[str]:
    """Enter every namespace of a pod; nsenter forks so the child is inside the pid namespace."""
    return [tool("nsenter"), "-t", str(pause_pid), "-m", "-u", "-i", "-n", "-p", "--"]


def as_user(uid: int, gid: int) -> list[str]:
    return [tool("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--"]


def in_workdir(workdir: str) -> list[str]:
    """`env -C`: start in `workdir` (resolved inside the pod's mount namespace)."""
    return [tool("env"), "-C", workdir, "--"]


def pod_command(
    pause_pid: int,
    command: Sequence[str],
    workdir: str,
    user: Optional[tuple[int, int]] = None,
    tty: bool = False,
) -> list[str]:
    """The one exec chain: nsenter -> [setsid -c for a tty] -> [setpriv] -> env -C -> command.

    The pod's environment is NOT on this argv (every user of the machine reads argvs in
    `ps`): run the chain with it as the process environment (`env=` of the spawn), which
    every link passes on unchanged and only root can read (/proc/PID/environ)."""
    argv = enter_pod(pause_pid)
    if tty:
        # a new session whose controlling terminal is the pty on stdin (job control works)
        argv += [tool("setsid"), "-w", "-c"]
    if user is not None:
        argv += as_user(*user)
    return argv + in_workdir(workdir) + list(command)


async def run(argv: Sequence[str], stdin: Optional[str] = None, timeout: float = 30) -> str:
    """Runs a plumbing command; raises CommandError with its stderr when it fails."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout
        )
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise CommandError(f"{' '.join(argv)}: timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        detail = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise CommandError(f"{' '.join(argv)}: {detail}")
    return out.decode()


def python() -> str:
    return sys.executable
