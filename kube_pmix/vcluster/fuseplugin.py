"""Our fuse device plugin's DaemonSet (manifests/fuse-plugin), rendered for a registry and tag.

The plugin (fuse-plugin/, Go) ships in the runtime-with-podman image, which the
-unpriv variants' nodes pull anyway; `kube-pmix fuse-plugin deploy` names that
image as the virtual clusters' images are named.
"""

from __future__ import annotations

from typing import Any

import yaml

from kube_pmix.vcluster import paths
from kube_pmix.vcluster.images import IMAGES, reference
from kube_pmix.vcluster.render import Manifest, kustomize_with

NAMESPACE = "kube-pmix-system"
RESOURCE = "github.com/fuse"
DAEMONSET = "kube-pmix-fuse-plugin"
IMAGE = IMAGES["runtime-with-podman"]


def kustomization(rel: str, registry: str, tag: str) -> Manifest:
    full = reference(IMAGE, registry, tag)
    name, _, new_tag = full.rpartition(":")
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [rel],
            "images": [{"name": IMAGE.repository, "newName": name, "newTag": new_tag}]}


def render(registry: str, tag: str, kubectl: str = "kubectl") -> list[dict[str, Any]]:
    text = kustomize_with(paths.manifests_dir() / "fuse-plugin",
                          lambda rel: kustomization(rel, registry, tag), kubectl)
    return [o for o in yaml.safe_load_all(text) if o]
