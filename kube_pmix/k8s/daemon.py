"""The real test bed's daemon: it runs every component of one cluster and relays to it.

Started by `kube-pmix k8s up` as `python -m kube_pmix.k8s.daemon STATE_DIR`. It
opens its loopback listeners on this machine, moves into the cluster's cgroup,
mount and network namespaces, then starts the components in order, each only
once the one before answers, and writes one progress line per step. When
everything is ready it writes `ready.json` and stays, relaying this machine's
loopback to the API server and the registry. SIGTERM takes the cluster down in
reverse order: the kubelet, every pod (through the CRI), containerd, the
control plane; then whatever is left in the cluster's cgroups is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable, Optional

from kube_pmix import relay
from kube_pmix.local.listener import listen_tcp

from . import cgroups, layout, nodens, probes, sysctls
from .components import ORDER
from .errors import ComponentError
from .plan import Plan

Probe = Callable[[], Awaitable[Optional[str]]]
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_GRACE = 10.0
# Seconds each component gets to answer (first starts on a loaded 2-core machine).
READY_TIMEOUT = {"registry": 20, "etcd": 30, "kube-apiserver": 120,
                 "kube-controller-manager": 60, "kube-scheduler": 60, "containerd": 30,
                 "kubelet": 120, "kube-proxy": 60, "coredns": 120}


class Supervisor:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.state = plan.state
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.env = {"PATH": f"{plan.bin_dir}:{HOST_PATH}", "HOME": "/root", "LANG": "C.UTF-8"}
        self.t0 = time.monotonic()

    def progress(self, line: str) -> None:
        with open(self.state.root / "progress", "a") as out:
            out.write(f"{line}\n")

    def _write_status(self) -> None:
        status = {name: {"pid": p.pid, "returncode": p.returncode,
                         "log": str(self.state.log(name))} for name, p in self.procs.items()}
        tmp = self.state.root / "status.json.tmp"
        tmp.write_text(json.dumps(status, indent=1))
        tmp.replace(self.state.root / "status.json")

    async def _spawn(self, name: str, argv: list[str]) -> asyncio.subprocess.Process:
        with open(self.state.log(name), "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=self.env)
        self.procs[name] = proc
        self._write_status()
        return proc

    async def _wait_ready(self, name: str, probe: Probe,
                          proc: Optional[asyncio.subprocess.Process] = None) -> None:
        timeout = READY_TIMEOUT.get(name, 60)
        start = time.monotonic()
        why: Optional[str] = "not checked yet"
        while time.monotonic() - start < timeout:
            if proc is not None and proc.returncode is not None:
                raise ComponentError(name, f"exited with status {proc.returncode} before it "
                                     "was ready", self.state.log(name))
            why = await probe()
            if why is None:
                self.progress(f"{name}: ready after {time.monotonic() - start:.1f} s")
                return
            await asyncio.sleep(0.2)
        raise ComponentError(name, f"not ready after {timeout} s: {why}", self.state.log(name))

    async def _run(self, name: str, argv: list[str], timeout: float = 60) -> tuple[int, str]:
        """A short command of the daemon's own (ctr, kubectl, crictl): status and output."""
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=self.env)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, f"{name} did not finish within {timeout:g} s"
        text = out.decode(errors="replace")
        with open(self.state.log(name), "a") as log:
            log.write(text)
        return proc.returncode or 0, text

    def _probe(self, name: str) -> Probe:
        plan, node = self.plan, str(layout.NODE_IP)
        checks: dict[str, Probe] = {
            "registry": lambda: probes.tcp(node, layout.REGISTRY_PORT),
            "etcd": lambda: probes.healthz("127.0.0.1", layout.ETCD_PORT, "/health"),
            "kube-apiserver": lambda: probes.healthz(node, layout.API_PORT, "/readyz",
                                                     probes.client_context(plan)),
            "kube-controller-manager": lambda: probes.healthz("127.0.0.1", 10257, "/healthz",
                                                              probes.insecure()),
            "kube-scheduler": lambda: probes.healthz("127.0.0.1", 10259, "/healthz",
                                                     probes.insecure()),
            "containerd": self._containerd_answers,
            "kubelet": lambda: probes.node_ready(plan),
            "kube-proxy": lambda: probes.healthz("127.0.0.1", 10256, "/healthz"),
        }
        return checks[name]

    async def _containerd_answers(self) -> Optional[str]:
        status, out = await self._run("ctr", [self.plan.bin("ctr"), "--address",
                                              str(self.state.containerd_socket), "version"], 5)
        return None if status == 0 else f"ctr version: {out.strip().splitlines()[-1:]}"

    async def _import_images(self) -> None:
        for archive in sorted(self.state.images.glob("*.tar")):
            status, out = await self._run("ctr", [
                self.plan.bin("ctr"), "--address", str(self.state.containerd_socket),
                "--namespace", "k8s.io", "images", "import", "--no-unpack=false", str(archive)])
            if status != 0:
                raise ComponentError("containerd", f"could not import {archive.name}: "
                                     f"{out.strip()[-300:]}", self.state.log("ctr"))
        self.progress("containerd: the sandbox and CoreDNS images are imported")

    async def _apply_addons(self) -> None:
        kubectl = shutil.which("kubectl", path=self.env["PATH"])
        if kubectl is None:
            raise ComponentError("addons", "kubectl is not on PATH (it applies CoreDNS)")
        status, out = await self._run("kubectl", [
            kubectl, "--kubeconfig", str(self.state.kubeconfig("admin-in-cluster")),
            "apply", "--server-side", "-f", self.plan.etc("addons.yaml")])
        if status != 0:
            raise ComponentError("addons", f"kubectl apply failed: {out.strip()[-300:]}",
                                 self.state.log("kubectl"))

    async def bring_up(self) -> None:
        for component in ORDER:
            proc = await self._spawn(component.name, component.argv(self.plan))
            await self._wait_ready(component.name, self._probe(component.name), proc)
            if component.name == "containerd":
                await self._import_images()
            if component.name == "kube-apiserver":
                await self._apply_addons()
        await self._wait_ready("coredns", probes.cluster_dns)

    async def stop(self, name: str) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def tear_down(self) -> None:
        self.progress("stopping")
        await self.stop("kubelet")  # first, so it restarts nothing of what goes next
        await self.stop("kube-proxy")
        containerd = self.procs.get("containerd")
        if containerd is not None and containerd.returncode is None:
            # every pod, through the CRI: containers stopped, CNI torn down, sandboxes gone
            await self._run("crictl", [
                self.plan.bin("crictl"), "--runtime-endpoint",
                f"unix://{self.state.containerd_socket}", "--timeout", "30s", "rmp", "-a", "-f"],
                timeout=90)
        for component in reversed(ORDER):
            await self.stop(component.name)
        self._write_status()
        left = cgroups.kill_all(self.plan.cgroup_root)
        if left:
            self.progress(f"stopping: pids {sorted(left)} survived SIGKILL")

    async def watch(self, stop: asyncio.Event) -> None:
        """Until told to stop: note any component that exits (`status` shows it)."""
        waits = {asyncio.ensure_future(p.wait()): n for n, p in self.procs.items()}
        stopper = asyncio.ensure_future(stop.wait())
        while not stop.is_set():
            done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                if fut in waits:
                    name = waits.pop(fut)
                    self.progress(f"{name}: exited with status {fut.result()} "
                                  f"(log: {self.state.log(name)})")
                    self._write_status()
        for fut in waits:
            fut.cancel()


async def serve(plan: Plan, listeners: dict[int, object]) -> int:
    sup = Supervisor(plan)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    node = str(layout.NODE_IP)
    for port, sock in listeners.items():
        await relay.serve(sock, node, port)  # type: ignore[arg-type]
    status = 0
    try:
        up = asyncio.ensure_future(sup.bring_up())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([up, stopper], return_when=asyncio.FIRST_COMPLETED)
        if not up.done():
            up.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await up
            sup.progress("interrupted before the cluster was ready")
            status = 1
        elif up.exception() is not None:
            raise up.exception()  # type: ignore[misc]
        else:
            stopper.cancel()
            tmp = plan.state.ready.with_suffix(".tmp")
            tmp.write_text(json.dumps({"api": plan.api_here, "registry": plan.registry_here,
                                       "seconds": round(time.monotonic() - sup.t0, 1)}))
            tmp.replace(plan.state.ready)
            sup.progress(f"ready after {time.monotonic() - sup.t0:.1f} s")
            await sup.watch(stop)
    except ComponentError as exc:
        (plan.state.root / "failed").write_text(f"{exc}\n")
        sup.progress(f"failed: {exc}")
        status = 1
    except Exception as exc:  # noqa: BLE001 - recorded for `up`, which prints it
        (plan.state.root / "failed").write_text(f"daemon: {exc.__class__.__name__}: {exc}\n")
        status = 1
    finally:
        await sup.tear_down()
    return status


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    state = layout.StateDir(Path(args[0]))
    plan = Plan.from_json(json.loads(state.config.read_text()), state)
    state.daemon_pid.write_text(f"{os.getpid()}\n")
    # this machine's side of the relays, opened before leaving its network namespace
    listeners: dict[int, object] = {
        layout.API_PORT: listen_tcp("127.0.0.1", plan.api_port),
        layout.REGISTRY_PORT: listen_tcp("127.0.0.1", plan.registry_port),
    }
    cgroups.join_control_plane(plan.cgroup_root)
    nodens.enter(plan.name, state)
    sysctls.apply_netns()
    return asyncio.run(serve(plan, listeners))


if __name__ == "__main__":
    sys.exit(main())
