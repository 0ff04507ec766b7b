"""Wait until the virtual cluster's compute pods are Ready, then write its hostfiles.

Replaces the seed's `k8s-wait-for-pods.sh` (a loop over `kubectl get | grep`). We
list the pods once and then *watch* them, so a pod that turns Ready is seen at
once and the API server is not polled. A pod counts when it is Ready, has an IP
and, unless DNS checks are off, its DNS name resolves: PRRTE and ssh connect by
name, and a headless service publishes names a little after the pod turns Ready.

The pure parts (what state a pod is in and why, hostfile text) are separate from
the API loop so they are tested on plain dicts.

Errors (only the CLI turns them into messages and exit statuses)::

    WaitError
    +-- WaitTimeout     the pods were not all Ready/resolvable in time
    +-- ApiError        the API server refused us or could not be reached
"""

from __future__ import annotations

import os
import re
import socket
import tempfile
import time
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


def _as_dict(api_client: Any, obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    return dict(api_client.sanitize_for_serialization(obj))


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


def wait_for_pods(
    core_v1: Any,
    spec: WaitSpec,
    resolver: Resolver = system_resolver,
    progress: Optional[Progress] = None,
) -> list[PodState]:
    """Block until SPEC.count matching pods are usable; return them in ordinal order.

    CORE_V1 is a `kubernetes.client.CoreV1Api`. Raises WaitTimeout (naming the pods
    still missing and why) or ApiError.
    """
    from kubernetes import watch  # imported here: only this tool pays for it
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + spec.timeout
    states: dict[str, PodState] = {}
    last_line = ""

    def say(line: str) -> None:
        nonlocal last_line
        if progress is not None and line != last_line:
            progress(line)
        last_line = line

    def unresolved_names(pods: Sequence[PodState]) -> list[str]:
        if not spec.check_dns:
            return []
        names = [dns_name(p.name, spec.service, spec.namespace) for p in pods]
        names += list(spec.extra_names)
        return [n for n in names if resolver(n) is None]

    def done() -> tuple[bool, list[str]]:
        pods = chosen(states, spec.count)
        if len(pods) < spec.count:
            return False, []
        missing_dns = unresolved_names(pods)
        return not missing_dns, missing_dns

    def status_line(missing_dns: Sequence[str]) -> str:
        ready = sum(1 for s in states.values() if s.ready)
        line = f"{ready}/{spec.count} pods ready"
        if len(states) < spec.count:
            line += f" ({len(states)} exist)"
        waiting = sorted(
            (s for s in states.values() if not s.ready), key=lambda s: (s.ordinal, s.name)
        )
        if waiting:
            line += "; waiting for " + ", ".join(f"{s.name} ({s.reason})" for s in waiting)
        if missing_dns:
            line += "; DNS pending for " + ", ".join(missing_dns)
        return line

    def relist() -> str:
        pods = core_v1.list_namespaced_pod(spec.namespace, label_selector=spec.selector)
        states.clear()
        for item in pods.items:
            state = pod_state(_as_dict(core_v1.api_client, item))
            states[state.name] = state
        return str(pods.metadata.resource_version or "")

    missing_dns: list[str] = []
    try:
        version = relist()
        while True:
            ok, missing_dns = done()
            say(status_line(missing_dns))
            if ok:
                return chosen(states, spec.count)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # All Ready but DNS not yet published: nothing to watch for, so look
            # again soon; otherwise wait for pod events up to the deadline.
            window = min(remaining, 2.0) if missing_dns else remaining
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    core_v1.list_namespaced_pod,
                    spec.namespace,
                    label_selector=spec.selector,
                    resource_version=version,
                    timeout_seconds=max(1, int(window + 0.999)),
                    allow_watch_bookmarks=False,
                ):
                    kind = event.get("type")
                    obj = _as_dict(core_v1.api_client, event.get("raw_object") or event["object"])
                    if kind == "ERROR":
                        # 410 Gone: our resourceVersion is too old; list again.
                        version = relist()
                        break
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    state = pod_state(obj)
                    if kind == "DELETED":
                        states.pop(state.name, None)
                    else:
                        states[state.name] = state
                    if done()[0] or time.monotonic() >= deadline:
                        break
                    say(status_line([]))
            finally:
                stream.stop()
    except ApiException as exc:
        if exc.status == 410:
            return wait_for_pods(
                core_v1,
                WaitSpec(**{**spec.__dict__, "timeout": max(0.0, deadline - time.monotonic())}),
                resolver,
                progress,
            )
        raise ApiError(f"Kubernetes API error {exc.status} {exc.reason}".strip()) from exc
    except (OSError, ConnectionError) as exc:
        raise ApiError(f"cannot reach the Kubernetes API: {exc}") from exc
    except Exception as exc:  # urllib3's errors do not share a base with OSError
        if type(exc).__module__.startswith("urllib3"):
            raise ApiError(f"cannot reach the Kubernetes API: {exc}") from exc
        raise

    missing = sorted((s for s in states.values() if not s.ready), key=lambda s: (s.ordinal, s.name))
    raise WaitTimeout(
        wanted=spec.count,
        timeout=spec.timeout,
        missing=missing,
        unresolved=missing_dns,
        seen=len(states),
    )
