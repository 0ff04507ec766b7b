"""The `k8s` transport: daemons over the Kubernetes exec API, one stream each, one loop.

Credentials as kubectl finds them (explicit kubeconfig, KUBECONFIG or
~/.kube/config, then the in-cluster service account). `prepare` lists the
pods of each namespace the hostfile names once, so unknown hosts and pod IPs
are settled with one request per namespace, not one per host.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping, Optional, Sequence

from launchers.exec import hosts as hostnames
from launchers.exec.config import ClusterConfig, load_config
from launchers.exec.errors import ConfigError, HostNotFound, KubeExecError, Unauthorized
from launchers.exec.resume import small_read_buffers
from launchers.exec.transport import ExecSession, RemoteProcess, open_guarded
from launchers.k8sgo.errors import NoCredentials, UnknownHost, Unreachable
from launchers.k8sgo.hostfile import split_user
from launchers.k8sgo.settings import Settings
from launchers.k8sgo.transports.base import Flow, Sink


def _ips(pod: Mapping[str, Any]) -> set[str]:
    status = pod.get("status") or {}
    found = {status.get("podIP")} | {
        entry.get("ip") for entry in status.get("podIPs") or [] if isinstance(entry, dict)
    }
    return {str(ipaddress.ip_address(ip)) for ip in found if ip}


def pod_index(items: Sequence[Mapping[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """(pod names, IP -> pod) of a pod list; a running pod wins an IP over a finished one."""
    def finished(item: Mapping[str, Any]) -> bool:
        return (item.get("status") or {}).get("phase") in ("Succeeded", "Failed")

    names: set[str] = set()
    by_ip: dict[str, str] = {}
    for item in sorted(items, key=finished):  # stable: running pods first
        name = str((item.get("metadata") or {}).get("name", ""))
        names.add(name)
        for ip in _ips(item):
            by_ip.setdefault(ip, name)
    return names, by_ip


def resolve_all(
    hosts: Sequence[str], listings: Mapping[str, Sequence[Mapping[str, Any]]], default_ns: str
) -> list[tuple[str, str]]:
    """(pod, namespace) per host, given each namespace's pod list; UnknownHost if one is not."""
    indexes = {ns: pod_index(items) for ns, items in listings.items()}
    out: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    for host in hosts:
        # a user@ (PRRTE hostfile syntax) means nothing to the exec API: the container's
        # user runs the command
        target = hostnames.parse_host(split_user(host)[1])
        ns = target.namespace or default_ns
        names, by_ip = indexes.get(ns, (set(), {}))
        if target.ip:
            pod = by_ip.get(target.ip, "")
            if not pod:
                raise UnknownHost(f"{host}: no pod has this IP in namespace {ns}")
        else:
            pod = target.pod
            if pod not in names:
                raise UnknownHost(f"{host}: no pod {pod} in namespace {ns}")
        if (pod, ns) in seen:
            raise UnknownHost(f"{host}: same pod as {seen[pod, ns]} ({pod}); one daemon per pod")
        seen[pod, ns] = host
        out.append((pod, ns))
    return out


class K8sTransport:
    """Starts `kubexec-guard ... -- COMMAND` in a pod; one TLS connection per daemon."""

    def __init__(self, settings: Settings, config: Optional[ClusterConfig] = None) -> None:
        self.settings = settings
        # one TLS stream per daemon, each carrying a few lines: asyncio's 256 KiB read
        # buffer per stream would be most of our memory (exec.resume)
        small_read_buffers()
        try:
            self.config = config or load_config(settings.kubeconfig, settings.context)
            self.session = ExecSession(self.config, settings.connect_timeout,
                                       settings.retry_deadline)
        except ConfigError as exc:
            raise NoCredentials(str(exc)) from exc
        self.namespace = settings.namespace or self.config.namespace
        self._targets: dict[str, tuple[str, str]] = {}

    async def prepare(self, hosts: Sequence[str]) -> None:
        try:
            namespaces = {hostnames.parse_host(split_user(h)[1]).namespace or self.namespace
                          for h in hosts}
        except HostNotFound as exc:
            raise UnknownHost(str(exc)) from exc
        listings: dict[str, Sequence[Mapping[str, Any]]] = {}
        for ns in sorted(namespaces):
            try:
                listing = await self.session.get_json(hostnames.pod_list_path(ns), ns)
            except Unauthorized as exc:
                raise NoCredentials(f"{self.config.server}: {exc.reason}") from exc
            except KubeExecError as exc:
                raise Unreachable(f"cannot list the pods of namespace {ns}: {exc}") from exc
            listings[ns] = listing.get("items") or []
        self._targets = dict(zip(hosts, resolve_all(hosts, listings, self.namespace)))

    async def start(
        self, index: int, host: str, argv: Sequence[str], stdout: Sink, stderr: Sink,
        flow: Optional[Flow] = None, env: Optional[Mapping[str, str]] = None,
    ) -> RemoteProcess:
        pod, ns = (self._targets.get(host)
                   or (hostnames.parse_host(split_user(host)[1]).pod, self.namespace))
        s = self.settings
        return await open_guarded(
            self.session, pod, argv,
            heartbeat_interval=s.heartbeat_interval, heartbeat_timeout=s.heartbeat_timeout,
            guard=s.guard, namespace=ns, container=s.container, stdout=stdout, stderr=stderr,
            flow=flow, env=env, detachable=s.detachable,
        )

    async def close(self) -> None:
        pass

    def stats(self) -> dict[str, int]:
        cache = self.session.tls_sessions
        return {"tls_offered": cache.offered, "tls_resumed": cache.resumed}
