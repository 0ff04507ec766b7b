"""Waiting for the login pod, saying why it is not there yet.

`kubectl wait --for=condition=Ready pod -l ...` errors at once while the Job has
not made its pod, and waits out its timeout on a Failed pod that a retry left
behind. Instead, `look` reads the Job and every pod of the virtual cluster and
decides: the Ready login pod to enter, a reason to keep waiting (a pod that
cannot be scheduled, an image that cannot be pulled, a probe that fails), or a
verdict (the Job failed; no node offers a device the pods need). It is pure, on
the JSON kubectl gives; `wait_login` polls it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

from kube_pmix import names
from kube_pmix.vcluster.errors import LoginError

Obj = dict[str, Any]
# Extended resources the variants ask for, and what provides them.
DEVICE_PROVIDERS = {"github.com/fuse": "the fuse device plugin (`make deploy-fuse-plugin`)"}
POLL = 2.0
# A device no node offers is a verdict only once it has lasted this long: a plugin that
# has just started registers, and the node shows it, a few seconds later.
DEVICE_GRACE = 30.0


@dataclass(frozen=True)
class Seen:
    """What one look found: the pod to enter, else why not (final: waiting cannot help)."""

    pod: str = ""
    why: str = ""
    final: bool = False


def _conditions(obj: Obj) -> dict[str, Obj]:
    return {c.get("type", ""): c for c in obj.get("status", {}).get("conditions", []) or []}


def _live(pod: Obj) -> bool:
    return (pod.get("status", {}).get("phase") not in ("Failed", "Succeeded")
            and not pod.get("metadata", {}).get("deletionTimestamp"))


def pod_trouble(pod: Obj) -> str:
    """Why a live pod is not Ready, in one line ('' if nothing is known yet)."""
    name = pod["metadata"]["name"]
    scheduled = _conditions(pod).get("PodScheduled", {})
    if scheduled.get("status") == "False":
        return f"{name}: not scheduled: {scheduled.get('message') or scheduled.get('reason')}"
    status_of = pod.get("status", {})
    statuses = [*(status_of.get("initContainerStatuses") or []),
                *(status_of.get("containerStatuses") or [])]
    for status in statuses:
        waiting = status.get("state", {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason and reason not in ("PodInitializing", "ContainerCreating"):
            message = waiting.get("message", "")
            return f"{name}: {status.get('name')}: {reason}" + (f": {message}" if message else "")
        last = (status.get("lastState") or {}).get("terminated") or {}
        if last and not status.get("ready"):
            return (f"{name}: {status.get('name')} exited {last.get('exitCode')} "
                    f"({last.get('reason', '')}), restarted")
    ready = _conditions(pod).get("Ready", {})
    if pod.get("status", {}).get("phase") == "Running" and ready.get("status") == "False":
        return f"{name}: running, not Ready yet (its readiness probe: kubectl describe pod {name})"
    return ""


def offered(nodes: list[Obj], resource: str) -> bool:
    """Whether any node has RESOURCE allocatable."""
    return any(str((n.get("status", {}).get("allocatable") or {}).get(resource, "0"))
               not in ("0", "") for n in nodes)


def missing_device(pod: Obj, nodes: list[Obj]) -> str:
    """An extended resource the pod asks for that no node offers: the reason, else ''."""
    scheduled = _conditions(pod).get("PodScheduled", {})
    if scheduled.get("status") != "False":
        return ""
    for container in pod.get("spec", {}).get("containers", []):
        for resource in (container.get("resources", {}).get("limits") or {}):
            if resource not in DEVICE_PROVIDERS:
                continue
            if not offered(nodes, resource):
                return (f"{pod['metadata']['name']} needs {resource}, which no node offers: "
                        f"deploy {DEVICE_PROVIDERS[resource]}, or use a variant without it")
    return ""


def look(job: Optional[Obj], pods: list[Obj], nodes: list[Obj], namespace: str) -> Seen:
    """Decide from the login Job, the virtual cluster's pods and the nodes."""
    if job is None:
        return Seen(why=f"no virtual cluster in namespace {namespace}: no Job "
                        f"{names.LOGIN_JOB} (kube-pmix deploy VARIANT)", final=True)
    failed = _conditions(job).get("Failed", {})
    if failed.get("status") == "True":
        return Seen(why=f"the login Job failed: {failed.get('reason', '')}: "
                        f"{failed.get('message', '')} (its waiter's log: make get-waitfor-log)",
                    final=True)
    if job.get("spec", {}).get("suspend"):
        return Seen(why=f"the login Job is suspended (kubectl -n {namespace} patch job "
                        f"{names.LOGIN_JOB} -p '{{\"spec\":{{\"suspend\":false}}}}')")
    live = [p for p in pods if _live(p)]
    logins = [p for p in live
              if p["metadata"].get("labels", {}).get("job-name") == names.LOGIN_JOB]
    for pod in logins:
        ready = _conditions(pod).get("Ready", {}).get("status") == "True"
        if ready and pod.get("status", {}).get("phase") == "Running":
            return Seen(pod=pod["metadata"]["name"])
    for pod in live:
        gone = missing_device(pod, nodes)
        if gone:
            return Seen(why=gone, final=True)
    # the compute pods first: the login pod waits for them
    ordered = sorted(live, key=lambda p: p in logins)
    for pod in ordered:
        trouble = pod_trouble(pod)
        if trouble:
            return Seen(why=trouble)
    if not logins:
        return Seen(why="the Job has no running login pod yet")
    return Seen(why=f"{logins[0]['metadata']['name']}: waiting for the compute pods "
                    "(make get-waitfor-log)")


Getter = Callable[[list[str]], str]


def snapshot(get: Getter) -> tuple[Optional[Obj], list[Obj], list[Obj]]:
    """The Job, the cluster's pods and the nodes, through GET (kubectl's `get ... -o json`)."""
    job_items = json.loads(get(["job", "--field-selector",
                                f"metadata.name={names.LOGIN_JOB}"])).get("items", [])
    pods = json.loads(get(["pods", "-l", f"{names.CLUSTER_LABEL}={names.SERVICE}"]))["items"]
    try:
        nodes = json.loads(get(["nodes"]))["items"]
    except LoginError:
        nodes = [{"status": {"allocatable": {r: "?" for r in DEVICE_PROVIDERS}}}]  # may not list
    return (job_items[0] if job_items else None), pods, nodes


def wait_login(get: Getter, namespace: str, timeout: float,
               progress: Callable[[str], None] = lambda _: None) -> str:
    """The name of the Ready login pod; LoginError with the last reason otherwise."""
    deadline = time.monotonic() + timeout
    said = ""
    missing_since: Optional[float] = None
    while True:
        job, pods, nodes = snapshot(get)
        seen = look(job, pods, nodes, namespace)
        if seen.pod:
            return seen.pod
        device = seen.final and any(missing_device(p, nodes) for p in pods)
        missing_since = (missing_since or time.monotonic()) if device else None
        if seen.final and (not device or time.monotonic() - (missing_since or 0) >= DEVICE_GRACE):
            raise LoginError(seen.why)
        if seen.why != said:
            progress(seen.why)
            said = seen.why
        if time.monotonic() >= deadline:
            raise LoginError(f"no Ready login pod after {timeout:g} s: {seen.why}")
        time.sleep(POLL)
