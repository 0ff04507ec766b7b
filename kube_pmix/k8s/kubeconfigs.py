"""Kubeconfig documents with client certificates: the admin's and each component's."""

from __future__ import annotations

import base64
from typing import Any, Optional

import yaml

from kube_pmix.names import NAMESPACE


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def token_kubeconfig(server: str, ca_pem: bytes, token: str, namespace: str) -> str:
    """A service account's kubeconfig: its bearer token, the namespace its Role is in."""
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "bed", "cluster": {"server": server,
                                                 "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa@bed", "context": {"cluster": "bed", "user": "sa",
                                                    "namespace": namespace}}],
        "current-context": "sa@bed",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def build(cluster: str, server: str, ca_pem: bytes, user: str, cert_pem: bytes,
          key_pem: bytes, namespace: Optional[str] = NAMESPACE) -> str:
    """One cluster, one user, one context; the admin's context names the project's namespace,
    as the local cluster's kubeconfig does, so the same commands find the same pods."""
    context: dict[str, Any] = {"cluster": cluster, "user": user}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server,
                                                   "certificate-authority-data": _b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": context}],
        "current-context": f"{user}@{cluster}",
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)
