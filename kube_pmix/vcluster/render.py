"""Render a variant's manifests with its parameters, without touching tracked files.

The paper's Makefile ran `kustomize edit` on its own sources. We write a small
kustomization into a temporary directory that references the overlay and sets
namespace, replica count and image names/tags, run `kubectl kustomize` on it,
then fix up in Python what kustomize cannot derive: the waiter's pod count, the
Role's exec `resourceNames` (one per compute pod), the RoleBinding subject's
namespace, and the pod settings of `podspec` (DNS search domain, pulls, spread,
MPI_IMAGE); plus the login Job's lifetime (deadline, clean-up after it ends) and
a suspended start for a queue.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from kube_pmix.vcluster import paths, podspec
from kube_pmix.vcluster.errors import CommandError, RenderError
from kube_pmix.vcluster.images import DEFAULT_TAG, IMAGES
from kube_pmix.vcluster.suspend import suspend
from kube_pmix.vcluster.variants import variant

Manifest = dict[str, Any]


@dataclass(frozen=True)
class RenderParams:
    variant: str
    namespace: str = "kube-pmix"
    replicas: int = 2
    registry: str = ""  # empty: image names stay as the manifests have them
    tag: str = DEFAULT_TAG
    slots: Optional[int] = None
    wait_timeout: int = 600
    cluster_domain: str = "cluster.local"
    pull_policy: str = "IfNotPresent"
    pull_secret: Optional[str] = None
    spread: str = "none"  # of the compute pods over nodes: none, soft, hard
    create_namespace: bool = True  # False: deploy into a namespace that exists
    deadline: Optional[int] = None  # seconds the login Job may run (activeDeadlineSeconds)
    ttl: Optional[int] = None  # seconds a finished login Job is kept (ttlSecondsAfterFinished)
    suspend: bool = False  # created suspended, for a queue to admit (kube_pmix.vcluster.suspend)
    registry_ca: Optional[str] = None  # PEM of the registry's CA, for podman in the pods
    pod_user_namespace: bool = False  # hostUsers: false, with subordinate ids that fit


def overlay_dir(name: str) -> Path:
    variant(name)  # raises UnknownName
    return paths.manifests_dir() / "overlays" / name


def kustomization(overlay: str, params: RenderParams) -> Manifest:
    """The generated kustomization: OVERLAY (a path relative to it) plus the parameters."""
    doc: Manifest = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": params.namespace,
        "resources": [overlay],
        "replicas": [{"name": paths.STATEFULSET, "count": params.replicas}],
    }
    prefix = f"{params.registry.rstrip('/')}/" if params.registry else ""
    doc["images"] = [
        {"name": img.repository, "newName": f"{prefix}{img.repository}", "newTag": params.tag}
        for img in IMAGES.values()
    ]
    return doc


def kustomize_argv(directory: Path, kubectl: str = "kubectl") -> list[str]:
    return [kubectl, "kustomize", str(directory)]


def compute_pod_names(replicas: int) -> list[str]:
    return [f"{paths.STATEFULSET}-{i}" for i in range(replicas)]


def _set_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """ARGV with `--flag=value` replacing any `--flag=...`/`--flag ...`, else appended."""
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word == flag:
            skip = True
            continue
        if word.startswith(flag + "="):
            continue
        out.append(word)
    return [*out, f"{flag}={value}"]


def _pod_spec(obj: Manifest) -> Manifest:
    spec: Manifest = obj["spec"]["template"]["spec"]
    return spec


def fix_rbac(obj: Manifest, params: RenderParams) -> None:
    """The RoleBinding's subject in our namespace; the Role's exec rule limited by name to
    the compute pods (kustomize knows neither)."""
    if obj.get("kind") == "RoleBinding":
        for subject in obj.get("subjects", []):
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = params.namespace
    elif obj.get("kind") == "Role":
        for rule in obj.get("rules", []):
            if "pods/exec" in rule.get("resources", []):
                rule["resourceNames"] = compute_pod_names(params.replicas)


def fix_pods(obj: Manifest, params: RenderParams) -> None:
    """The pod settings that depend on the parameters (see kube_pmix.vcluster.podspec)."""
    spec = _pod_spec(obj)
    the_variant = variant(params.variant)
    podspec.set_dns(spec, params.namespace, params.cluster_domain)
    podspec.set_pull(spec, params.pull_policy, params.pull_secret, the_variant.podman)
    if the_variant.podman:
        podspec.set_env(spec["containers"][0], "MPI_IMAGE",
                        podspec.mpi_image(params.registry, params.tag))
        if params.registry_ca:
            podspec.mount_registry_ca(spec)
    if params.pod_user_namespace:
        podspec.own_user_namespace(spec, the_variant.podman)
    if obj["kind"] == "StatefulSet":
        constraints = podspec.spread_constraints(params.spread)
        if constraints:
            spec["topologySpreadConstraints"] = constraints
    elif obj["kind"] == "Job":
        if params.deadline:
            obj["spec"]["activeDeadlineSeconds"] = params.deadline
        if params.ttl is not None:
            obj["spec"]["ttlSecondsAfterFinished"] = params.ttl


def post_process(objects: list[Manifest], params: RenderParams) -> list[Manifest]:
    """Apply what kustomize cannot (see the module docstring); checks what it relies on."""
    found = {(o.get("kind"), o.get("metadata", {}).get("name")) for o in objects}
    for needed in (("StatefulSet", paths.STATEFULSET), ("Job", paths.LOGIN_JOB),
                   ("Role", paths.SERVICE), ("RoleBinding", paths.SERVICE)):
        if needed not in found:
            raise RenderError(f"rendered manifests lack {needed[0]} {needed[1]}")
    for obj in objects:
        kind = obj.get("kind")
        if kind in ("Role", "RoleBinding"):
            fix_rbac(obj, params)
        if kind in ("StatefulSet", "Job"):
            fix_pods(obj, params)
        if kind == "StatefulSet":
            if obj["spec"].get("replicas") != params.replicas:
                raise RenderError("kustomize did not set the StatefulSet's replicas")
        elif kind == "Job":
            for container in _pod_spec(obj).get("initContainers", []):
                if container.get("name") != paths.WAITER_CONTAINER:
                    continue
                argv = list(container.get("command", []))
                argv = _set_flag(argv, "--count", str(params.replicas))
                argv = _set_flag(argv, "--timeout", str(params.wait_timeout))
                if params.slots:
                    argv = _set_flag(argv, "--slots", str(params.slots))
                container["command"] = argv
    if params.suspend:
        suspend(objects, params.replicas)
    if not params.create_namespace:
        objects = [o for o in objects if o.get("kind") != "Namespace"]
    if params.registry_ca and variant(params.variant).podman:
        objects.append(podspec.registry_ca_configmap(params.namespace, params.registry_ca))
    if params.pod_user_namespace and variant(params.variant).podman:
        objects.append(podspec.subids_configmap(params.namespace, *podspec.USERNS_SUBIDS))
    return objects


def kustomize_with(resource: Path, make_doc: Callable[[str], Manifest],
                   kubectl: str = "kubectl") -> str:
    """Rendered YAML of a kustomization MAKE_DOC(RESOURCE's relative path) written into a
    temporary directory: RESOURCE with parameters applied, its sources untouched."""
    with tempfile.TemporaryDirectory(prefix="kube-pmix-render-") as tmp:
        rel = os.path.relpath(resource, tmp)
        Path(tmp, "kustomization.yaml").write_text(yaml.safe_dump(make_doc(rel)))
        argv = kustomize_argv(Path(tmp), kubectl)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise CommandError(argv, -1) from None
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise CommandError(argv, done.returncode, lines[-1] if lines else "")
    return done.stdout


def run_kustomize(params: RenderParams, kubectl: str = "kubectl") -> str:
    """Rendered YAML of the variant with PARAMS applied by kustomize."""
    return kustomize_with(overlay_dir(params.variant), lambda rel: kustomization(rel, params),
                          kubectl)


def render(params: RenderParams, kubectl: str = "kubectl") -> list[Manifest]:
    """The variant's objects, parameters applied, in kustomize's order."""
    if params.replicas < 1:
        raise RenderError("replicas must be at least 1")
    if params.spread not in podspec.SPREADS:
        raise RenderError(f"spread must be one of {', '.join(podspec.SPREADS)}")
    objects = [o for o in yaml.safe_load_all(run_kustomize(params, kubectl)) if o]
    return post_process(objects, params)


def to_yaml(objects: list[Manifest]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
