"""Wait until the virtual cluster's compute pods are Ready, then write its hostfiles.

Replaces the seed's `k8s-wait-for-pods.sh` (a loop over `kubectl get | grep`). We
list the pods once and then *watch* them, so a pod that turns Ready is seen at
once and the API server is not polled. A pod counts when it is Ready, has an IP
and, unless DNS checks are off, its DNS name resolves: PRRTE and ssh connect by
name, and a headless service publishes names a little after the pod turns Ready.

The pure parts (what state a pod is in and why, hostfile text) are separate from
the API loop so they are tested on plain dicts.

The API loop (list, watch, retries within a hard deadline) is `loop.py`, which
imports this module (never the other way); which errors are retried and how long
to wait is `retry.py`.

Errors (only the CLI turns them into messages and exit statuses)::

    WaitError
    +-- WaitTimeout     the pods were not all Ready/resolvable in time
    +-- ApiError        the API server refused us, or was still failing at the deadline
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

Resolver = Callable[[str], Optional[str]]
Progress = Callable[[str], None]

# Waiting reasons that will not go away by themselves; reported as they are.
_STUCK_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)


class WaitError(Exception):
    """Base of the errors of this module."""


class ApiError(WaitError):
    """The Kubernetes API refused the request or could not be reached."""


@dataclass(frozen=True)
class PodState:
    """What we know about one pod: enough to decide and to explain."""

    name: str
    ip: str = ""
    ready: bool = False
    reason: str = ""

    @property
    def ordinal(self) -> int:
        return pod_ordinal(self.name)


@dataclass
class WaitTimeout(WaitError):
    """Not enough pods became usable before the deadline."""

    wanted: int
    timeout: float
    missing: list[PodState] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    seen: int = 0

    def __str__(self) -> str:
        return timeout_message(self)


def pod_ordinal(name: str) -> int:
    """The StatefulSet ordinal at the end of a pod name; a large number if none.

    Hostfile order is ordinal order (hpc-cn-2 before hpc-cn-10), not name order.
    """
    match = re.search(r"-(\d+)$", name)
    return int(match.group(1)) if match else 1 << 30


def _conditions(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    status = pod.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or []}


def _waiting_reason(pod: Mapping[str, Any]) -> str:
    """The most telling waiting/terminated reason among the pod's containers."""
    status = pod.get("status") or {}
    statuses = list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )
    found = ""
    for cs in statuses:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or ""
        if reason in _STUCK_REASONS:
            message = waiting.get("message") or ""
            restarts = cs.get("restartCount") or 0
            detail = f"{reason} (container {cs.get('name', '?')}, {restarts} restarts)"
            return f"{detail}: {message}" if message else detail
        terminated = state.get("terminated") or {}
        if terminated and not found:
            found = f"container {cs.get('name', '?')} exited {terminated.get('exitCode', '?')}"
        elif reason and not found:
            found = f"{reason} (container {cs.get('name', '?')})"
    return found


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """Classify a pod (as a camelCase dict, the API's JSON) and say why it is not usable."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    name = str(meta.get("name", "?"))
    ip = str(status.get("podIP") or "")
    phase = str(status.get("phase") or "Unknown")
    conditions = _conditions(pod)
    ready = (conditions.get("Ready") or {}).get("status") == "True"
    if meta.get("deletionTimestamp"):
        return PodState(name, ip, False, "Terminating")
    if ready and phase == "Running":
        return PodState(name, ip, bool(ip), "" if ip else "Ready but has no IP yet")
    scheduled = conditions.get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        why = scheduled.get("reason") or "not scheduled"
        message = scheduled.get("message") or ""
        if why == "Unschedulable":
            why = "unschedulable"
        text = f"Pending, {why}: {message}" if message else f"Pending, {why}"
        return PodState(name, ip, False, text)
    waiting = _waiting_reason(pod)
    if phase in ("Failed", "Succeeded"):
        return PodState(name, ip, False, f"{phase}" + (f", {waiting}" if waiting else ""))
    if phase == "Pending":
        return PodState(name, ip, False, f"Pending, {waiting}" if waiting else "Pending")
    if waiting:
        return PodState(name, ip, False, f"{phase}, {waiting}")
    return PodState(name, ip, False, f"{phase}, not Ready")


def dns_name(pod: str, service: str, namespace: str) -> str:
    """The name a pod has under a headless service (the resolver's search list adds the rest)."""
    return f"{pod}.{service}.{namespace}" if service else pod


def system_resolver(name: str) -> Optional[str]:
    """First address of NAME by the system resolver, or None if it does not resolve (yet)."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    return str(infos[0][4][0]) if infos else None


def hostfile_text(hosts: Iterable[str], slots: Optional[int] = None) -> str:
    """A PRRTE hostfile: one host a line, optionally with `slots=K`."""
    suffix = f" slots={slots}" if slots else ""
    return "".join(f"{host}{suffix}\n" for host in hosts)


def _write_atomic(path: Path, text: str) -> None:
    """Write by rename so a reader (the login shell, PRRTE) never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_hostfiles(
    directory: Path,
    pods: Sequence[PodState],
    slots: Optional[int] = None,
    host_format: str = "{pod}",
    service: str = "",
    namespace: str = "",
) -> tuple[Path, Path]:
    """Write `hostfile` (names) and `hostfile_ip` (IPs, same order) into DIRECTORY."""
    directory.mkdir(parents=True, exist_ok=True)
    names = [host_format.format(pod=p.name, service=service, namespace=namespace) for p in pods]
    hostfile = directory / "hostfile"
    hostfile_ip = directory / "hostfile_ip"
    _write_atomic(hostfile, hostfile_text(names, slots))
    _write_atomic(hostfile_ip, hostfile_text([p.ip for p in pods], slots))
    return hostfile, hostfile_ip


def chosen(states: Mapping[str, PodState], count: int) -> list[PodState]:
    """The COUNT usable pods with the lowest ordinals, in ordinal order."""
    ready = sorted((s for s in states.values() if s.ready), key=lambda s: (s.ordinal, s.name))
    return ready[:count]


def timeout_message(err: WaitTimeout) -> str:
    """One line naming what is missing and why."""
    ready = err.seen - len(err.missing)
    parts = [f"{ready} of {err.wanted} pods ready after {err.timeout:g}s"]
    if err.missing:
        parts.append(
            "not ready: " + "; ".join(f"{s.name} ({s.reason or 'not Ready'})" for s in err.missing)
        )
    if err.seen < err.wanted:
        parts.append(f"only {err.seen} matching pods exist")
    if err.unresolved:
        parts.append("DNS names not resolving: " + ", ".join(err.unresolved))
    return "; ".join(parts)


@dataclass
class WaitSpec:
    """What to wait for."""

    namespace: str
    selector: str
    count: int
    timeout: float = 600.0
    service: str = ""
    extra_names: Sequence[str] = ()
    check_dns: bool = True
    # time.monotonic() value at which to give up; default: `timeout` from the start of the
    # wait (the CLI sets it from its own start, so that start-up counts too)
    deadline: Optional[float] = None
