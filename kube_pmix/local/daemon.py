"""The local cluster's server process: owns the bridge, the pods and the API.

Started detached by `kube-pmix local up` (python -m kube_pmix.local.daemon NAME).
It writes pods.json on every change (for `down`, `status` and the test
fixture), keeps the pods' /etc/hosts in step with the Ready pods, and tears
everything down on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import os
import random
import resource
import signal
import ssl
import string
import sys
from typing import Any, Optional

from aiohttp import web

from kube_pmix.names import (
    CLUSTER_LABEL,
    COMPUTE_CONTAINER,
    COMPUTE_LABELS,
    LOGIN_CONTAINER,
    LOGIN_JOB,
    LOGIN_LABELS,
    WAITER_CONTAINER,
)

from . import kernel_limits, netns, registry
from .api import make_app
from .auth import identities
from .config import ClusterConfig
from .faults import ExecFaults
from .hostsfile import ordinal_key, render_hostfile, render_hostfile_ip, render_hosts
from .kubeconfig import build_kubeconfig
from .layout import API_PORT_IN_CLUSTER, SERVICE, SERVICE_ACCOUNT, StateDir
from .listener import listen_in_netns, listen_tcp
from .model import Container, PodState
from .podenv import LOGIN_ENV, pod_environment
from .pods import PodRuntime
from .private import write_private
from .store import PodStore

log = logging.getLogger("kube-pmix.local")

# as the manifests' StatefulSet and Job label their pods (the Job controller adds job-name)
POD_COMPUTE_LABELS = dict(COMPUTE_LABELS, **{CLUSTER_LABEL: SERVICE})
POD_LOGIN_LABELS = dict(LOGIN_LABELS, **{CLUSTER_LABEL: SERVICE, "job-name": LOGIN_JOB})


def initial_pods(nodes: int, suffix: str) -> list[PodState]:
    """N StatefulSet-style compute pods and one Job-style login pod with a finished init."""
    pods = [
        PodState(
            name=f"hpc-cn-{i}",
            labels=dict(POD_COMPUTE_LABELS, **{
                "statefulset.kubernetes.io/pod-name": f"hpc-cn-{i}",
                "apps.kubernetes.io/pod-index": str(i),
            }),
            containers=[Container(COMPUTE_CONTAINER)],
            hostname=f"hpc-cn-{i}",
            subdomain=SERVICE,
        )
        for i in range(nodes)
    ]
    login = f"{LOGIN_JOB}-{suffix}"
    pods.append(PodState(
        name=login,
        labels=dict(POD_LOGIN_LABELS),
        containers=[Container(LOGIN_CONTAINER, env=dict(LOGIN_ENV))],
        init_containers=[Container(WAITER_CONTAINER, running=False)],
        annotations={"kubectl.kubernetes.io/default-container": LOGIN_CONTAINER},
        hostname=login,
        subdomain=SERVICE,
        extra_spec={"restartPolicy": "Never"},
    ))
    return pods


def pod_from_body(body: dict[str, Any]) -> PodState:
    """A POSTed Pod object: name, labels, annotations, containers (names, images, env)."""
    meta, spec = body.get("metadata") or {}, body.get("spec") or {}

    def containers(items: list[dict[str, Any]], running: bool) -> list[Container]:
        return [
            Container(
                name=c.get("name", f"c{i}"),
                image=c.get("image", "kube-pmix/local"),
                running=running,
                env={e["name"]: str(e.get("value", "")) for e in c.get("env") or []
                     if "name" in e},
            )
            for i, c in enumerate(items)
        ]

    return PodState(
        name=meta["name"],
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        containers=containers(spec["containers"], True),
        init_containers=containers(spec.get("initContainers") or [], False),
        hostname=spec.get("hostname"),
        subdomain=spec.get("subdomain"),
    )


class Daemon:
    def __init__(self, config: ClusterConfig, state: StateDir) -> None:
        self.config = config
        self.state = state
        self.ready = False
        self.idle_timeout = config.idle_timeout
        self.identities = identities(config, json.loads(state.rbac.read_text()))
        self.exec_faults = ExecFaults({int(c): s for c, s in config.exec_errors.items()})
        self.store = PodStore(str(config.gateway), self._changed)
        self.runtime = PodRuntime(config, state, self._pod_died)
        self._hosts_text: Optional[str] = None
        self._batching = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._env_cache: dict[str, dict[str, str]] = {}

    # --- files the pods and the tools read ---

    def _changed(self) -> None:
        self._write_pods_json()
        if not self._batching:  # hosts once for the initial pods, not once per pod
            self._write_hosts()

    def _write_pods_json(self) -> None:
        summary = {name: p.summary() for name, p in self.store.pods.items()}
        tmp = self.state.pods.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, self.state.pods)

    def _write_hosts(self) -> None:
        """Ready pods only, as a headless service publishes them; rewritten in place
        because the file is bind-mounted into every pod."""
        ready = sorted((p for p in self.store.pods.values() if p.ready and p.ip),
                       key=lambda p: ordinal_key(p.name))
        extra = [(str(self.config.gateway), registry.NAME)] if self.config.registry_port else []
        text = render_hosts([(p.name, p.ip or "") for p in ready], extra)
        if text != self._hosts_text:
            with open(self.state.hosts, "r+") as f:
                f.write(text)
                f.truncate()
            self._hosts_text = text

    # --- pod lifecycle ---

    def _spawn_background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start(self, pod: PodState) -> None:
        ip = self.runtime.allocate_ip(self.store.pods)
        self.store.add(pod)
        try:
            await self.runtime.start(pod, ip)
        except BaseException:
            self.store.remove(pod)
            raise
        delay = self.runtime.readiness_delay(pod)
        if delay == 0:
            pod.ready, pod.ready_since = True, pod.started
        self.store.modified(pod)
        if delay:
            self._spawn_background(self._ready_later(pod, delay))

    async def _ready_later(self, pod: PodState, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.store.pods.get(pod.name) is pod:
            pod.ready = True
            pod.ready_since = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            self.store.modified(pod)

    def _pod_died(self, pod: PodState) -> None:
        log.warning("pod %s: pause process exited; removing the pod", pod.name)
        self.store.remove(pod)

    async def create_pod(self, body: dict[str, Any]) -> PodState:
        pod = pod_from_body(body)
        await self._start(pod)
        return pod

    async def delete_pod(self, pod: PodState) -> None:
        await self.runtime.stop(pod)
        self.store.remove(pod)
        self._env_cache.pop(pod.name, None)

    async def spawn_exec(self, pod: PodState, container: str, command: list[str], tty: bool,
                         **stdio: Any) -> asyncio.subprocess.Process:
        key = f"{pod.name}/{container}/{tty}"
        env = self._env_cache.get(key)
        if env is None:
            spec = pod.container(container)
            env = pod_environment(self.config, pod.name, spec.env if spec else {}, tty)
            self._env_cache[key] = env
        assert pod.pause_pid is not None
        argv = netns.pod_command(pod.pause_pid, command, self.config.home,
                                 (self.config.uid, self.config.gid), tty)
        return await asyncio.create_subprocess_exec(*argv, env=env, start_new_session=True,
                                                    **stdio)

    # --- whole cluster ---

    async def bring_up_pods(self) -> None:
        suffix = "".join(random.choices(string.ascii_lowercase, k=5))
        pods = initial_pods(self.config.nodes, suffix)
        results = await asyncio.gather(*(self._start(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        compute = [p for p in pods if p.labels.get("hpcnode") == "compute-node"]
        (self.state.hpc_etc / "hostfile").write_text(
            render_hostfile([p.name for p in compute]))
        (self.state.hpc_etc / "hostfile_ip").write_text(
            render_hostfile_ip([p.ip or "" for p in compute]))
        self._batching = False
        self._changed()

    async def tear_down(self) -> None:
        self._batching = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(self.runtime.stop(p) for p in list(self.store.pods.values())),
                             return_exceptions=True)
        await self.runtime.teardown_bridge()


def _ssl_context(state: StateDir) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(state.server_cert, state.server_key)
    return context


async def serve(config: ClusterConfig, state: StateDir) -> int:
    daemon = Daemon(config, state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_app(daemon), access_log=None, shutdown_timeout=1)
    await runner.setup()
    registry_proc: Optional[asyncio.subprocess.Process] = None
    status = 0
    try:
        local = listen_tcp("127.0.0.1", 0)
        port = local.getsockname()[1]
        context = _ssl_context(state)
        await web.SockSite(runner, local, ssl_context=context).start()
        ca = state.ca_cert.read_bytes()
        for path, user, token in ((state.kubeconfig, "admin", config.admin_token),
                                  (state.restricted_kubeconfig, "viewer",
                                   config.restricted_token),
                                  (state.sa_kubeconfig, SERVICE_ACCOUNT, config.sa_token)):
            write_private(path, build_kubeconfig(
                f"kube-pmix-{config.name}", f"https://127.0.0.1:{port}", ca, user, token))
        await daemon.runtime.setup_bridge()
        _size_kernel_limits(config.nodes + 1)
        inside = listen_in_netns(f"/run/netns/{daemon.runtime.netns}", str(config.gateway),
                                 API_PORT_IN_CLUSTER)
        await web.SockSite(runner, inside, ssl_context=context).start()
        if config.registry_port:
            registry_proc = await _start_registry(config, state, daemon)
        await daemon.bring_up_pods()
        daemon.ready = True
        log.info("cluster %s ready on 127.0.0.1:%d and %s:%d", config.name, port,
                 config.gateway, API_PORT_IN_CLUSTER)
        await stop.wait()
    except Exception:
        log.exception("cluster %s failed", config.name)
        status = 1
    finally:
        log.info("cluster %s: tearing down", config.name)
        await runner.cleanup()
        if registry_proc is not None:
            await registry.stop(registry_proc)
        await daemon.tear_down()
    return status


def _size_kernel_limits(pods: int) -> None:
    """Every pod shares the kernel's neighbour table and receive backlog
    (kernel_limits.py): a few hundred pods overflow the first, a thousand the second."""
    try:
        written = kernel_limits.raise_for(pods)
    except OSError as exc:  # a read-only /proc/sys: the cluster works, up to ~300 pods
        log.warning("cannot raise the kernel's limits for %d pods: %s", pods, exc)
        return
    if written:
        log.info("kernel limits raised for %d pods: %s", pods, written)


async def _start_registry(config: ClusterConfig, state: StateDir,
                          daemon: Daemon) -> asyncio.subprocess.Process:
    """The registry on 127.0.0.1, and its relay on the cluster network (registry.py)."""
    proc = await registry.start(state.registry_config, state.registry / "registry.log")
    problem = await registry.wait_listening(config.registry_port, proc)
    if problem:
        await registry.stop(proc)
        raise RuntimeError(f"image registry: {problem} (log: {state.registry / 'registry.log'})")
    relay = listen_in_netns(f"/run/netns/{daemon.runtime.netns}", str(config.gateway),
                            registry.IN_CLUSTER_PORT)
    await registry.serve_forwarder(relay, config.registry_port)
    log.info("image registry on 127.0.0.1:%d, in the cluster as %s", config.registry_port,
             registry.IN_CLUSTER)
    return proc


def _raise_fd_limit() -> None:
    """Every pod holds 2 pipes here and every exec session a socket and up to 3 pipes:
    256 pods with a session each need about 1800 descriptors, over the usual 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        with contextlib.suppress(ValueError, OSError):  # keep what we have: not fatal
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kube_pmix.local.daemon NAME", file=sys.stderr)
        return 2
    state = StateDir.of(args[0])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = ClusterConfig.load(state.config)
    _raise_fd_limit()
    state.daemon_pid.write_text(f"{os.getpid()}\n")
    return asyncio.run(serve(config, state))


if __name__ == "__main__":
    sys.exit(main())
