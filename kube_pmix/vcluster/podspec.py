"""Pod-level settings of the rendered manifests that depend on the deployment's parameters.

What kustomize cannot derive from a generated kustomization, set on the pod
templates in Python: the headless service's DNS search domain (its name holds
the namespace), the pull policy and pull secret (also for `podman pull` inside
the pods), a topology spread of the compute pods, and `MPI_IMAGE` (the ranks'
image, named like the pods' own images) in the podman variants.
"""

from __future__ import annotations

from typing import Any, Optional

from kube_pmix import names
from kube_pmix.vcluster.images import IMAGES, reference

Manifest = dict[str, Any]

SPREADS = ("none", "soft", "hard")
AUTH_DIR = "/opt/hpc/registry-auth"
AUTH_FILE = f"{AUTH_DIR}/auth.json"
AUTH_VOLUME = "registry-auth"
CA_CONFIGMAP = "hpc-cluster-registry-ca"
SUBIDS_CONFIGMAP = "hpc-cluster-subids"
# In a pod's own user namespace (hostUsers: false) only ids 0-65535 exist: podman's
# subordinate range must fit there, beside the pod user 10001.
USERNS_SUBIDS = (16384, 49152)
CA_DIR = "/opt/hpc/registry-ca"


def search_domain(namespace: str, cluster_domain: str = "cluster.local") -> str:
    """The headless service's domain: a bare pod name (`hpc-cn-1`) resolves under it."""
    return f"{names.SERVICE}.{namespace}.svc.{cluster_domain}"


def set_dns(spec: Manifest, namespace: str, cluster_domain: str) -> None:
    """Add the service's search domain; the cluster's own stay first (ClusterFirst)."""
    spec["dnsConfig"] = {"searches": [search_domain(namespace, cluster_domain)]}


def containers(spec: Manifest) -> list[Manifest]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def set_pull(spec: Manifest, policy: str, secret: Optional[str], podman: bool) -> None:
    """Pull policy on every container; the pull secret for the kubelet, and, where ranks
    are pulled by podman in the pod, mounted as podman's auth file."""
    for container in containers(spec):
        container["imagePullPolicy"] = policy
    if not secret:
        return
    spec["imagePullSecrets"] = [{"name": secret}]
    if not podman:
        return
    spec.setdefault("volumes", []).append({
        "name": AUTH_VOLUME,
        "secret": {"secretName": secret, "defaultMode": 0o440,
                   "items": [{"key": ".dockerconfigjson", "path": "auth.json"}]}})
    main = spec["containers"][0]
    main.setdefault("volumeMounts", []).append(
        {"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True})
    set_env(main, "REGISTRY_AUTH_FILE", AUTH_FILE)


def set_env(container: Manifest, name: str, value: str) -> None:
    env = container.setdefault("env", [])
    env[:] = [e for e in env if e.get("name") != name]
    env.append({"name": name, "value": value})


def spread_constraints(how: str) -> list[Manifest]:
    """At most one compute pod more on any node than on another: `soft` prefers it,
    `hard` refuses to schedule otherwise (pods stay Pending)."""
    if how == "none":
        return []
    if how not in SPREADS:
        raise ValueError(f"spread must be one of {', '.join(SPREADS)}")
    return [{
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "DoNotSchedule" if how == "hard" else "ScheduleAnyway",
        "labelSelector": {"matchLabels": dict(names.COMPUTE_LABELS)},
    }]


def mpi_image(registry: str, tag: str) -> str:
    """The ranks' image, as the pods' images are named."""
    return reference(IMAGES["mpi"], registry, tag)


def registry_ca_configmap(namespace: str, ca_pem: str) -> Manifest:
    """The CA of a registry with a private CA, for podman in the pods (the kubelet's
    container runtime is configured on the node, not here)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CA_CONFIGMAP, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "kube-pmix"}},
            "data": {"ca.crt": ca_pem}}


def mount_registry_ca(spec: Manifest) -> None:
    """Mount that CA; the node script puts it where podman looks for the registry's CAs
    (~/.config/containers/certs.d/HOST/ca.crt, HOST from MPI_IMAGE)."""
    spec.setdefault("volumes", []).append(
        {"name": "registry-ca", "configMap": {"name": CA_CONFIGMAP, "defaultMode": 0o444}})
    main = spec["containers"][0]
    main.setdefault("volumeMounts", []).append(
        {"name": "registry-ca", "mountPath": CA_DIR, "readOnly": True})
    set_env(main, "REGISTRY_CA_FILE", f"{CA_DIR}/ca.crt")


def subids_configmap(namespace: str, start: int, count: int) -> Manifest:
    line = f"{names.POD_USER}:{start}:{count}\n"
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": SUBIDS_CONFIGMAP, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "kube-pmix"}},
            "data": {"subuid": line, "subgid": line}}


def own_user_namespace(spec: Manifest, podman: bool) -> None:
    """hostUsers: false (the pod in a user namespace of its own); podman pods get
    subordinate ids that exist there, over the image's /etc/subuid and /etc/subgid."""
    spec["hostUsers"] = False
    if not podman:
        return
    spec.setdefault("volumes", []).append(
        {"name": "subids", "configMap": {"name": SUBIDS_CONFIGMAP, "defaultMode": 0o444}})
    main = spec["containers"][0]
    for key in ("subuid", "subgid"):
        main.setdefault("volumeMounts", []).append(
            {"name": "subids", "mountPath": f"/etc/{key}", "subPath": key, "readOnly": True})
