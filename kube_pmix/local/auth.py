"""Bearer tokens, and who each one is: admin, the pods' service account, a viewer.

What each may do is decided by RBAC rules (rbac.py): the admin is bound to
everything and the viewer to reading, cluster-wide; the pods' service account
gets exactly what the rendered manifests' Role and RoleBinding give it, so the
tools run here under the Role users deploy.
"""

from __future__ import annotations

import hmac
from typing import Any, Iterable, Mapping, Optional

from .config import ClusterConfig
from .layout import NAMESPACE, SERVICE_ACCOUNT
from .rbac import Identity, PolicyRule, cluster_wide, grants_for, service_account_user

ADMIN_USER = "kube-pmix:admin"
SA_USER = service_account_user(NAMESPACE, SERVICE_ACCOUNT)
VIEWER_USER = "kube-pmix:viewer"

READ_VERBS = ("get", "list", "watch")
ADMIN_RULES = (PolicyRule(verbs=("*",), api_groups=("*",), resources=("*",)),)
# read-only, and no exec: the user of the 403 tests
VIEWER_RULES = (PolicyRule(verbs=READ_VERBS, resources=("pods", "pods/log", "namespaces")),)


def identities(config: ClusterConfig,
               pod_rbac: Iterable[Mapping[str, Any]] = ()) -> dict[str, Identity]:
    """Token -> identity. `pod_rbac`: the rendered Role and RoleBinding (and any other RBAC
    objects) that bind the pods' service account."""
    return {
        config.admin_token: Identity(ADMIN_USER, cluster_wide(ADMIN_RULES)),
        config.sa_token: Identity(SA_USER, grants_for(SA_USER, pod_rbac)),
        config.restricted_token: Identity(VIEWER_USER, cluster_wide(VIEWER_RULES)),
    }


def authenticate(header: Optional[str], known: dict[str, Identity]) -> Optional[Identity]:
    if not header or not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    for candidate, identity in known.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            return identity
    return None
