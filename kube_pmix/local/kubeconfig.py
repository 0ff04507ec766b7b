"""Kubeconfig documents for a local cluster (admin and read-only users)."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from .layout import NAMESPACE


def build_kubeconfig(cluster: str, server: str, ca_pem: bytes, user: str, token: str) -> str:
    """One cluster, one user with a bearer token, one context whose namespace is ours."""
    context = f"{user}@{cluster}"
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": cluster, "user": user, "namespace": NAMESPACE},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)
