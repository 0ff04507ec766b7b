"""Bring a real-Kubernetes test bed up and down, and find it again.

`up` writes the state directory, makes the network namespace and the cgroup
root, starts the daemon and follows its progress until the cluster is ready.
`down` asks the daemon to stop, then removes whatever is left of the cluster
whether or not the daemon answered: processes (by cgroup, then by network
namespace), cgroups, the namespace, the mount points `up` created, the
machine-wide settings the kubelet changed, and the state directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from kube_pmix.local.registry import free_port

from . import cgroups, layout, machine, nodens, prepare
from . import plan as planmod
from .errors import (
    ClusterExistsError,
    ClusterNotFoundError,
    ComponentError,
    K8sClusterError,
    NotRootError,
    UpError,
)

Progress = Callable[[str], None]
UP_TIMEOUT = 900.0
DOWN_GRACE = 180.0


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRootError("the real test bed needs root (namespaces, mounts, cgroups, "
                           "containerd): run it with sudo")


def daemon_pid(state: layout.StateDir) -> Optional[int]:
    """The daemon's pid if it is alive and really ours (its command line names the state)."""
    try:
        pid = int(state.daemon_pid.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if str(state.root).encode() in cmdline else None


def known_clusters() -> list[str]:
    names = {p.name for p in layout.STATE_ROOT.glob("*") if p.is_dir()}
    netns = Path("/run/netns")
    if netns.is_dir():
        names |= {p.name[len(layout.NETNS_PREFIX):] for p in netns.glob(
            f"{layout.NETNS_PREFIX}*")}
    return sorted(names)


@dataclass(frozen=True)
class K8sCluster:
    """A running test bed, as tests and the CLI see it."""

    name: str

    @property
    def state(self) -> layout.StateDir:
        return layout.StateDir.of(self.name)

    def _config(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.state.config.read_text()))
        except OSError:
            raise ClusterNotFoundError(f"no real test bed named {self.name!r} "
                                       "(kube-pmix k8s up)") from None

    @property
    def plan(self) -> planmod.Plan:
        return planmod.Plan.from_json(self._config(), self.state)

    @property
    def kubeconfig(self) -> str:
        return str(self.state.admin_kubeconfig)

    @property
    def restricted_kubeconfig(self) -> str:
        return str(self.state.kubeconfig("restricted"))

    @property
    def ca(self) -> str:
        return str(self.state.pki / "ca.crt")

    @property
    def registry(self) -> str:
        return self.plan.registry_here

    @property
    def registry_in_cluster(self) -> str:
        return self.plan.registry_in_cluster

    def status(self) -> dict[str, dict[str, object]]:
        try:
            return dict(json.loads((self.state.root / "status.json").read_text()))
        except OSError:
            return {}

    @property
    def ready(self) -> bool:
        return self.state.ready.exists() and daemon_pid(self.state) is not None


def _spawn_daemon(state: layout.StateDir) -> subprocess.Popen[bytes]:
    with open(state.log("daemon"), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "kube_pmix.k8s.daemon", str(state.root)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            cwd="/", env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _follow(state: layout.StateDir, daemon: subprocess.Popen[bytes], progress: Progress,
            timeout: float) -> None:
    shown = 0
    deadline = time.monotonic() + timeout
    progress_file = state.root / "progress"
    while True:
        if progress_file.exists():
            lines = progress_file.read_text().splitlines()
            for line in lines[shown:]:
                progress(line)
            shown = len(lines)
        if state.ready.exists():
            return
        failed = state.root / "failed"
        if daemon.poll() is not None or failed.exists():
            daemon.wait()
            why = failed.read_text().strip() if failed.exists() else (
                f"the daemon exited with status {daemon.returncode} "
                f"(log: {state.log('daemon')})")
            raise UpError(why)
        if time.monotonic() > deadline:
            raise UpError(f"not ready after {timeout:g} s")
        time.sleep(0.2)


def up(name: str, progress: Progress = lambda _: None, max_pods: int = 256,
       bin_dir: Optional[Path] = None, timeout: float = UP_TIMEOUT) -> K8sCluster:
    require_root()
    binaries = bin_dir or planmod.default_bin_dir()
    planmod.check_binaries(binaries)
    state = layout.StateDir.of(name)
    if daemon_pid(state) is not None:
        raise ClusterExistsError(f"real test bed {name!r} is already running "
                                 f"(kube-pmix k8s down --name {name})")
    down(name)  # what a crashed run left
    layout.STATE_ROOT.mkdir(parents=True, exist_ok=True)
    plan = planmod.Plan(name=name, state=state, bin_dir=binaries, api_port=free_port(),
                        registry_port=free_port(), max_pods=max_pods)
    prepare.prepare(plan, {})
    progress(f"state in {state.root}; logs in {state.logs}")
    try:
        machine.claim(nodens.missing_mount_points(state))
        nodens.make_netns(name)
        cgroups.create(plan.cgroup_root)
        daemon = _spawn_daemon(state)
        _follow(state, daemon, progress, timeout)
    except K8sClusterError as exc:
        stop(name)
        raise UpError(f"{exc}; everything is stopped, the logs stay in {state.logs} until "
                      f"`kube-pmix k8s down --name {name}`") from None
    except BaseException:
        stop(name)
        raise
    return K8sCluster(name)


def _netns_inode(name: str) -> Optional[int]:
    try:
        return nodens.netns_path(name).stat().st_ino
    except OSError:
        return None


def _kill_in_netns(name: str) -> None:
    """Fallback for processes outside the cgroup subtree (a daemon killed before it joined)."""
    inode = _netns_inode(name)
    if inode is None:
        return
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.stat(proc / "ns" / "net").st_ino == inode:
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue


def stop(name: str) -> bool:
    """Stop everything of the cluster and give back what it took from the machine; keep the
    state directory (its logs). True if there was anything to stop."""
    state = layout.StateDir.of(name)
    found = False
    pid = daemon_pid(state)
    if pid is not None:
        found = True
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_GRACE
        while daemon_pid(state) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    root = layout.cgroup_root(name)
    if cgroups.exists(root):
        found = True
        cgroups.kill_all(root)
        _kill_in_netns(name)
        stuck = cgroups.remove(root)
        if stuck:
            raise ComponentError("down", f"cgroups left: {'; '.join(stuck)}")
    _kill_in_netns(name)
    found = nodens.delete_netns(name) or found
    failed = machine.release(lambda: any(
        daemon_pid(layout.StateDir.of(other)) is not None
        for other in known_clusters() if other != name))
    if failed:
        raise ComponentError("down", f"could not give back {'; '.join(failed)}")
    return found


def leftovers(name: str) -> list[str]:
    """What of test bed `name` still exists: names for an error or an assertion message."""
    state = layout.StateDir.of(name)
    found = [f"daemon pid {p}" for p in [daemon_pid(state)] if p is not None]
    root = layout.cgroup_root(name)
    found += [f"pid {p} in {root}" for p in sorted(cgroups.pids(root))]
    if cgroups.exists(root):
        found.append(f"cgroup {root}")
    if nodens.netns_path(name).exists():
        found.append(f"network namespace {layout.netns_name(name)}")
    if state.root.exists():
        found.append(f"state directory {state.root}")
    others = [o for o in known_clusters() if o != name]
    if not others and (layout.STATE_ROOT / machine.RECORD).exists():
        found.append("the machine record (kubelet sysctls, mount points) was not given back")
    return found


def down(name: str) -> bool:
    """Remove the cluster entirely (also after a crash). True if anything of it existed."""
    found = stop(name)
    state = layout.StateDir.of(name)
    if state.root.exists():
        found = True
        shutil.rmtree(state.root)
    for folder in (layout.STATE_ROOT, layout.STATE_ROOT.parent):  # ours, once empty
        with contextlib.suppress(OSError):
            folder.rmdir()
    return found
