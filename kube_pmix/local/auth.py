"""Bearer tokens and what each identity may do (a tiny fixed RBAC)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Optional

from .config import ClusterConfig
from .layout import NAMESPACE

ADMIN_USER = "kube-pmix:admin"
SA_USER = f"system:serviceaccount:{NAMESPACE}:default"
VIEWER_USER = "kube-pmix:viewer"

READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class Identity:
    user: str
    verbs: frozenset[str]  # on pods
    can_exec: bool

    def allows(self, verb: str, resource: str) -> bool:
        if resource == "pods/exec":
            return self.can_exec
        return verb in self.verbs


def identities(config: ClusterConfig) -> dict[str, Identity]:
    """Admin (kubeconfig), the pods' service account (read + exec), a viewer (read only)."""
    return {
        config.admin_token: Identity(
            ADMIN_USER, READ_VERBS | {"create", "delete", "update", "patch"}, True
        ),
        config.sa_token: Identity(SA_USER, READ_VERBS, True),
        config.restricted_token: Identity(VIEWER_USER, READ_VERBS, False),
    }


def authenticate(header: Optional[str], known: dict[str, Identity]) -> Optional[Identity]:
    if not header or not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    for candidate, identity in known.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            return identity
    return None
