"""Text of the pods' /etc/hosts and of the PRRTE hostfiles (pure functions)."""

from __future__ import annotations

from typing import Sequence

from .layout import NAMESPACE, SERVICE

_PREAMBLE = (
    "# Kubernetes-managed hosts file (kube-pmix local cluster).\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
)


def pod_aliases(pod: str, service: str = SERVICE, namespace: str = NAMESPACE) -> list[str]:
    """The names a headless service gives a pod, longest first, as in the pods' /etc/hosts."""
    return [
        f"{pod}.{service}.{namespace}.svc.cluster.local",
        f"{pod}.{service}.{namespace}",
        f"{pod}.{service}",
        pod,
    ]


def render_hosts(pods: Sequence[tuple[str, str]],
                 extra: Sequence[tuple[str, str]] = ()) -> str:
    """/etc/hosts for every pod: (name, ip) pairs, each with all of its service names,
    then `extra` (ip, name) entries for cluster services (the image registry)."""
    lines = [f"{ip}\t{' '.join(pod_aliases(name))}\n" for name, ip in pods]
    lines += [f"{ip}\t{name}\n" for ip, name in extra]
    return _PREAMBLE + "".join(lines)


def render_hostfile(pods: Sequence[str], service: str = SERVICE, namespace: str = NAMESPACE) -> str:
    """The compute pods in ordinal order, one `pod.service.namespace` per line."""
    return "".join(f"{pod}.{service}.{namespace}\n" for pod in pods)


def render_hostfile_ip(ips: Sequence[str]) -> str:
    return "".join(f"{ip}\n" for ip in ips)


def ordinal_key(pod: str) -> tuple[str, int]:
    """Sort key for StatefulSet names: hpc-cn-10 after hpc-cn-9."""
    stem, _, tail = pod.rpartition("-")
    return (stem, int(tail)) if tail.isdigit() else (pod, -1)
