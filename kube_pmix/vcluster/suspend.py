"""A virtual cluster deployed suspended, for a queue to admit (`kube-pmix deploy --suspend`).

Kubernetes queues (Kueue, and any controller that flips `spec.suspend`) admit a
Job by resuming it. The login Job is the cluster's Job: it is created suspended,
and the StatefulSet with no replicas, so nothing runs until admission. The login
pod then starts with one more init container before the waiter,
`kube-pmix-admit` (kube_pmix.vcluster.admit), which scales the StatefulSet to the
cluster's size; the Role gains that one right, on that StatefulSet only.
"""

from __future__ import annotations

import copy
from typing import Any

from kube_pmix.names import STATEFULSET, WAITER_CONTAINER

Manifest = dict[str, Any]

ADMIT_CONTAINER = "admit"

# Only the scale subresource of our StatefulSet: get (the client reads it back) and patch.
SCALE_RULE: Manifest = {"apiGroups": ["apps"], "resources": ["statefulsets/scale"],
                        "verbs": ["get", "patch"], "resourceNames": [STATEFULSET]}


def admit_container(waiter: Manifest, replicas: int) -> Manifest:
    """The admit init container: the waiter's image, identity, limits and namespace."""
    return {
        "name": ADMIT_CONTAINER,
        "image": waiter["image"],
        "imagePullPolicy": waiter.get("imagePullPolicy", "IfNotPresent"),
        "command": ["kube-pmix-admit", f"--replicas={replicas}",
                    "--namespace=$(POD_NAMESPACE)"],
        "env": [{"name": "POD_NAMESPACE",
                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
        "resources": copy.deepcopy(waiter.get("resources", {})),
        "securityContext": copy.deepcopy(waiter.get("securityContext", {})),
    }


def suspend(objects: list[Manifest], replicas: int) -> None:
    """Make OBJECTS (a rendered variant) a suspended cluster of REPLICAS compute pods."""
    for obj in objects:
        kind = obj.get("kind")
        if kind == "StatefulSet":
            obj["spec"]["replicas"] = 0
        elif kind == "Job":
            obj["spec"]["suspend"] = True
            spec = obj["spec"]["template"]["spec"]
            inits = spec.setdefault("initContainers", [])
            waiter = next(c for c in inits if c.get("name") == WAITER_CONTAINER)
            inits.insert(0, admit_container(waiter, replicas))
        elif kind == "Role":
            obj.setdefault("rules", []).append(copy.deepcopy(SCALE_RULE))
