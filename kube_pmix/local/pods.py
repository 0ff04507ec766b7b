"""Pod lifecycle on this machine: start a pause process in fresh namespaces, wire its
network to the bridge, and kill it (which kills everything in the pod)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
from ipaddress import IPv4Address
from pathlib import Path
from typing import Callable, Optional

from . import netns
from .config import ClusterConfig
from .layout import StateDir, bridge_netns
from .model import PodState

READY_AFTER = "kube-pmix.dev/ready-after-seconds"
NEVER_READY = "kube-pmix.dev/never-ready"
START_TIMEOUT = 30.0


class PodStartError(RuntimeError):
    pass


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def child_pids(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


class PodRuntime:
    """Starts and stops namespace-pods; reports unexpected deaths through `on_exit`."""

    def __init__(
        self, config: ClusterConfig, state: StateDir, on_exit: Callable[[PodState], None]
    ) -> None:
        self.config = config
        self.state = state
        self.netns = bridge_netns(config.name)
        self._on_exit = on_exit
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._reserved: set[str] = set()
        self._veth_seq = 0

    def allocate_ip(self, pods: dict[str, PodState]) -> str:
        used = {p.ip for p in pods.values()} | self._reserved
        for host in list(self.config.subnet.hosts())[1:]:
            if str(host) not in used:
                self._reserved.add(str(host))
                return str(host)
        raise PodStartError(f"no free address left in {self.config.subnet}")

    async def start(self, pod: PodState, ip: str) -> None:
        """Namespaces + mounts (pause), then veth and address; sets pause_pid, ip, veth."""
        argv = netns.unshare_pod(netns.python(), self.config.name, pod.name, str(self.state.root))
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None and proc.stderr is not None
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
            if line.strip() != b"ready":
                err = await asyncio.wait_for(proc.stderr.read(), 5)
                raise PodStartError(
                    f"pod {pod.name}: pause process failed: {err.decode().strip() or 'no output'}"
                )
            children = child_pids(proc.pid)
            if len(children) != 1:
                raise PodStartError(f"pod {pod.name}: cannot find its pause process")
            pod.pause_pid = children[0]
            self._veth_seq += 1
            pod.veth = f"veth{self._veth_seq}"
            await netns.run(netns.ip_batch(self.netns), netns.veth_batch(pod.veth, pod.pause_pid))
            await netns.run(
                ["nsenter", "-t", str(pod.pause_pid), "-n", *netns.ip_batch()],
                netns.pod_net_batch(IPv4Address(ip), self.config.subnet),
            )
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                if pod.pause_pid:
                    os.kill(pod.pause_pid, signal.SIGKILL)
                proc.kill()
            await proc.wait()
            self._reserved.discard(ip)
            raise
        self._reserved.discard(ip)
        pod.ip = ip
        pod.phase = "Running"
        pod.started = _now()
        self._procs[pod.name] = proc
        asyncio.get_running_loop().create_task(self._watch(pod, proc))

    async def _watch(self, pod: PodState, proc: asyncio.subprocess.Process) -> None:
        await proc.wait()
        if self._procs.get(pod.name) is proc:  # died without `stop`: the pod is gone
            del self._procs[pod.name]
            self._on_exit(pod)

    async def stop(self, pod: PodState) -> None:
        """SIGKILL to pid 1 of the pod: the kernel kills the rest; the veth goes with it."""
        proc = self._procs.pop(pod.name, None)
        if pod.pause_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pod.pause_pid, signal.SIGKILL)
        if proc is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
        if pod.veth:
            # the netns (and so the veth) outlives pid 1 while exec helpers still hold it
            with contextlib.suppress(netns.CommandError):
                await netns.run(["ip", "-n", self.netns, "link", "delete", pod.veth])
        pod.phase = "Succeeded"

    def readiness_delay(self, pod: PodState) -> Optional[float]:
        """None: never ready; else seconds after start (annotations for wait-for-pods tests)."""
        if pod.annotations.get(NEVER_READY, "").lower() == "true":
            return None
        try:
            return max(0.0, float(pod.annotations.get(READY_AFTER, "0")))
        except ValueError:
            return 0.0

    async def setup_bridge(self) -> None:
        await netns.run(netns.netns_add(self.netns))
        await netns.run(
            netns.ip_batch(self.netns),
            netns.bridge_batch(self.config.gateway, self.config.subnet),
        )

    async def teardown_bridge(self) -> None:
        with contextlib.suppress(netns.CommandError):
            await netns.run(netns.netns_delete(self.netns))
