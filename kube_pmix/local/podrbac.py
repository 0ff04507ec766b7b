"""The pods' service-account rights, taken from the manifests users deploy.

`up` renders the `kubectl` variant (manifests/base plus the kubexec
component) with the project's renderer, for as many compute pods as the
cluster has, and keeps its RBAC objects: the local cluster then authorizes the
pods by exactly that Role and RoleBinding, so a tool that needs more than the
Role gives fails here as it would on a real cluster.
"""

from __future__ import annotations

from typing import Any

from .errors import SetupError
from .layout import NAMESPACE

RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
VARIANT = "kubectl"


def render_pod_rbac(nodes: int) -> list[dict[str, Any]]:
    """The rendered RBAC objects for `nodes` compute pods in our namespace."""
    from kube_pmix.vcluster.errors import VClusterError
    from kube_pmix.vcluster.render import RenderParams, render

    try:
        docs = render(RenderParams(variant=VARIANT, namespace=NAMESPACE, replicas=nodes))
    except VClusterError as exc:
        raise SetupError(f"cannot render the manifests' Role for the pods: {exc}") from None
    return [doc for doc in docs if doc.get("kind") in RBAC_KINDS]
