"""The pods' service-account rights, taken from the manifests users deploy.

`up` renders the `kubectl` variant (manifests/base plus the kubexec
component) with the project's renderer, for as many compute pods as the
cluster has, and keeps its RBAC objects: the local cluster then authorizes the
pods by exactly that Role and RoleBinding, so a tool that needs more than the
Role gives fails here as it would on a real cluster. Without kubectl (its
`kustomize` renders), the base's role.yaml and rolebinding.yaml are read
directly and get the renderer's own RBAC fix-ups: no overlay patches RBAC.
"""

from __future__ import annotations

import shutil
from typing import Any

import yaml

from .errors import SetupError
from .layout import NAMESPACE

RBAC_KINDS = ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
VARIANT = "kubectl"
BASE_RBAC_FILES = ("role.yaml", "rolebinding.yaml")


def render_pod_rbac(nodes: int) -> list[dict[str, Any]]:
    """The rendered RBAC objects for `nodes` compute pods in our namespace."""
    from kube_pmix.vcluster.errors import VClusterError
    from kube_pmix.vcluster.render import RenderParams, render

    params = RenderParams(variant=VARIANT, namespace=NAMESPACE, replicas=nodes)
    if shutil.which("kubectl") is None:
        return base_rbac(params)
    try:
        docs = render(params)
    except VClusterError as exc:
        raise SetupError(f"cannot render the manifests' Role for the pods: {exc}") from None
    return [doc for doc in docs if doc.get("kind") in RBAC_KINDS]


def base_rbac(params: Any) -> list[dict[str, Any]]:
    """manifests/base's Role and RoleBinding as the renderer would leave them."""
    from kube_pmix.vcluster.paths import manifests_dir
    from kube_pmix.vcluster.render import fix_rbac

    docs = []
    for name in BASE_RBAC_FILES:
        try:
            doc = yaml.safe_load((manifests_dir() / "base" / name).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SetupError(f"cannot read the manifests' RBAC ({name}): {exc}") from None
        doc.setdefault("metadata", {})["namespace"] = params.namespace
        fix_rbac(doc, params)
        docs.append(doc)
    return docs
