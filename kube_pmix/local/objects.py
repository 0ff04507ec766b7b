"""Kubernetes JSON objects: Pod, PodList, Table, Status, watch events (pure functions)."""

from __future__ import annotations

import datetime
from typing import Any, Mapping, Optional, Sequence

from .layout import NAMESPACE
from .model import Container, PodState

NODE_NAME = "kube-pmix-local"


def timestamp(when: Optional[datetime.datetime]) -> Optional[str]:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _condition(kind: str, ok: bool, when: Optional[datetime.datetime]) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": timestamp(when),
    }


def _container_spec(c: Container) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": c.name, "image": c.image, "imagePullPolicy": "IfNotPresent"}
    if c.env:
        spec["env"] = [{"name": k, "value": v} for k, v in c.env.items()]
    return spec


def _container_status(c: Container, pod: PodState, init: bool) -> dict[str, Any]:
    if init or not c.running:
        state: dict[str, Any] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": timestamp(pod.created),
                "finishedAt": timestamp(pod.started or pod.created),
            }
        }
        ready, started = False, False
    elif pod.phase == "Running":
        state = {"running": {"startedAt": timestamp(pod.started)}}
        ready, started = pod.ready, True
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
        ready, started = False, False
    return {
        "name": c.name,
        "image": c.image,
        "imageID": "",
        "containerID": f"kube-pmix://{pod.uid}/{c.name}",
        "ready": ready,
        "started": started,
        "restartCount": 0,
        "state": state,
    }


def pod_object(pod: PodState, host_ip: str) -> dict[str, Any]:
    """A realistic v1 Pod: what kubectl, the Python client and wait-for-pods read."""
    metadata: dict[str, Any] = {
        "name": pod.name,
        "namespace": NAMESPACE,
        "uid": pod.uid,
        "resourceVersion": str(pod.resource_version),
        "creationTimestamp": timestamp(pod.created),
        "labels": dict(pod.labels),
    }
    if pod.annotations:
        metadata["annotations"] = dict(pod.annotations)
    spec: dict[str, Any] = dict(pod.extra_spec)
    spec.update(
        {
            "containers": [_container_spec(c) for c in pod.containers],
            "nodeName": NODE_NAME,
            "restartPolicy": spec.get("restartPolicy", "Always"),
            "serviceAccountName": "default",
        }
    )
    if pod.init_containers:
        spec["initContainers"] = [_container_spec(c) for c in pod.init_containers]
    if pod.hostname:
        spec["hostname"] = pod.hostname
    if pod.subdomain:
        spec["subdomain"] = pod.subdomain
    running = pod.phase == "Running"
    status: dict[str, Any] = {
        "phase": pod.phase,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": timestamp(pod.created),
        "qosClass": "BestEffort",
        "conditions": [
            _condition("PodScheduled", True, pod.created),
            _condition("Initialized", running, pod.started),
            _condition("ContainersReady", pod.ready, pod.ready_since or pod.started),
            _condition("Ready", pod.ready, pod.ready_since or pod.started),
        ],
        "containerStatuses": [_container_status(c, pod, False) for c in pod.containers],
    }
    if pod.init_containers:
        status["initContainerStatuses"] = [
            _container_status(c, pod, True) for c in pod.init_containers
        ]
    if pod.ip:
        status["podIP"] = pod.ip
        status["podIPs"] = [{"ip": pod.ip}]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec, "status": status}


def namespace_object(name: str) -> dict[str, Any]:
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": name, "uid": f"kube-pmix-ns-{name}", "resourceVersion": "1",
                     "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def pod_list(items: Sequence[Mapping[str, Any]], resource_version: int) -> dict[str, Any]:
    return {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "items": list(items),
    }


_COLUMNS = [
    ("Name", "string", "name", 0),
    ("Ready", "string", "", 0),
    ("Status", "string", "", 0),
    ("Restarts", "string", "", 0),
    ("Age", "string", "", 0),
    ("IP", "string", "", 1),
    ("Node", "string", "", 1),
    ("Nominated Node", "string", "", 1),
    ("Readiness Gates", "string", "", 1),
]


def _age(created: Optional[str], now: datetime.datetime) -> str:
    if not created:
        return "<unknown>"
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc
    )
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def pod_table(
    items: Sequence[Mapping[str, Any]], resource_version: int, include_object: str = "Metadata"
) -> dict[str, Any]:
    """Server-side printing for `kubectl get pods` (meta.k8s.io/v1 Table)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for obj in items:
        statuses = obj["status"].get("containerStatuses", [])
        ready = sum(1 for s in statuses if s.get("ready"))
        if include_object == "Object":
            embedded: Any = obj
        elif include_object == "None":
            embedded = None
        else:
            embedded = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(
            {
                "cells": [
                    obj["metadata"]["name"],
                    f"{ready}/{len(statuses)}",
                    obj["status"]["phase"],
                    "0",
                    _age(obj["metadata"].get("creationTimestamp"), now),
                    obj["status"].get("podIP", "<none>"),
                    obj["spec"].get("nodeName", "<none>"),
                    "<none>",
                    "<none>",
                ],
                "object": embedded,
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(resource_version)},
        "columnDefinitions": [
            {"name": n, "type": t, "format": f, "description": n, "priority": p}
            for n, t, f, p in _COLUMNS
        ],
        "rows": rows,
    }


def status_failure(
    code: int, reason: str, message: str, details: Optional[Mapping[str, Any]] = None
) -> dict[str, Any]:
    """The metav1.Status body of an API error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = dict(details)
    return body


def not_found(name: str) -> dict[str, Any]:
    return status_failure(
        404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}
    )


def unauthorized() -> dict[str, Any]:
    return status_failure(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> dict[str, Any]:
    return status_failure(400, "BadRequest", message)


def watch_event(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


# --- exec status channel (no kind/apiVersion, as the kubelet writes it) ---

def exec_success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exec_exit_code(code: int) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: "
            f"command terminated with exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def exec_internal_error(text: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {text}",
        "reason": "InternalError",
        "details": {"causes": [{"message": text}]},
        "code": 500,
    }
