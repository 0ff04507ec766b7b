"""HOST as callers write it -> (pod name, namespace).

PRRTE passes whatever its hostfile says: a pod name (`hpc-cn-0`), a name
under the headless service (`hpc-cn-0.hpc-cn`, `hpc-cn-0.hpc-cn.ns`,
`hpc-cn-0.hpc-cn.ns.svc.cluster.local`) or a pod IP (`hostfile_ip`). Names
are parsed without any lookup; an IP costs one list call, filtered by the
server (`fieldSelector=status.podIP=IP`) or, if it refuses that, by us.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Awaitable, Callable, Iterable, Mapping, NamedTuple, Optional
from urllib.parse import quote

from launchers.exec.errors import ApiError, HostNotFound

GetJson = Callable[[str], Awaitable[Mapping[str, Any]]]
GetJsonSync = Callable[[str], Mapping[str, Any]]


class Target(NamedTuple):
    """Where to exec: a pod name, or an IP still to look up; namespace if HOST said one."""

    pod: str = ""
    ip: str = ""
    namespace: Optional[str] = None


def parse_host(host: str) -> Target:
    """Split `[user@]HOST` into a pod name (or IP) and an optional namespace."""
    host = host.rsplit("@", 1)[-1].strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise HostNotFound("empty host name")
    try:
        return Target(ip=str(ipaddress.ip_address(host)))
    except ValueError:
        pass
    labels = host.lower().split(".")
    if any(not label for label in labels):
        raise HostNotFound("malformed host name", host)
    # pod.service.namespace[.svc[.cluster-domain...]]: the namespace is the third label.
    namespace = labels[2] if len(labels) >= 3 else None
    return Target(pod=labels[0], namespace=namespace)


def _ips(pod: Mapping[str, Any]) -> set[str]:
    status = pod.get("status") or {}
    found = {status.get("podIP")} | {
        entry.get("ip") for entry in status.get("podIPs") or [] if isinstance(entry, dict)
    }
    return {str(ipaddress.ip_address(ip)) for ip in found if ip}


def pods_with_ip(items: Iterable[Mapping[str, Any]], ip: str) -> list[str]:
    """Names of the listed pods that have `ip`, finished pods last (their IP may be reused)."""
    running: list[str] = []
    finished: list[str] = []
    for pod in items:
        if ip in _ips(pod):
            name = str((pod.get("metadata") or {}).get("name", ""))
            phase = (pod.get("status") or {}).get("phase")
            (finished if phase in ("Succeeded", "Failed") else running).append(name)
    return running + finished


def pod_list_path(namespace: str, ip: Optional[str] = None) -> str:
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
    if ip:
        path += "?fieldSelector=" + quote(f"status.podIP={ip}", safe="")
    return path


def _first(listing: Mapping[str, Any], ip: str, namespace: str) -> str:
    names = pods_with_ip(listing.get("items") or [], ip)
    if not names:
        raise HostNotFound(f"no pod has IP {ip} in namespace {namespace}", ip)
    return names[0]


def _selector_refused(exc: ApiError) -> bool:
    return exc.code == 400  # field selector not supported -> list all and filter ourselves


async def pod_for_ip(get_json: GetJson, ip: str, namespace: str) -> str:
    """The pod in `namespace` with this IP; the server filters when it can."""
    try:
        listing = await get_json(pod_list_path(namespace, ip))
    except ApiError as exc:
        if not _selector_refused(exc):
            raise
        listing = await get_json(pod_list_path(namespace))
    return _first(listing, ip, namespace)


def pod_for_ip_sync(get_json: GetJsonSync, ip: str, namespace: str) -> str:
    """`pod_for_ip` for blocking callers (kubexec, which avoids importing asyncio)."""
    try:
        listing = get_json(pod_list_path(namespace, ip))
    except ApiError as exc:
        if not _selector_refused(exc):
            raise
        listing = get_json(pod_list_path(namespace))
    return _first(listing, ip, namespace)


async def resolve(host: str, get_json: GetJson, namespace: str) -> tuple[str, str]:
    """(pod, namespace) for HOST; `namespace` applies when HOST names none."""
    target = parse_host(host)
    namespace = target.namespace or namespace
    if target.ip:
        return await pod_for_ip(get_json, target.ip, namespace), namespace
    return target.pod, namespace


def resolve_sync(host: str, get_json: GetJsonSync, namespace: str) -> tuple[str, str]:
    """`resolve` for blocking callers."""
    target = parse_host(host)
    namespace = target.namespace or namespace
    if target.ip:
        return pod_for_ip_sync(get_json, target.ip, namespace), namespace
    return target.pod, namespace
