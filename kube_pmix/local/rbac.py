"""Role-based authorization: the subset of Kubernetes' RBAC evaluator the local cluster needs.

A request is (user, verb, API group, resource, subresource, name, namespace).
It is allowed when a rule of a role bound to the user matches it: the binding
is cluster-wide (a ClusterRoleBinding) or in the request's namespace (a
RoleBinding); the rule's verbs, apiGroups and resources ("pods/exec" names the
subresource, "*" and "*/exec" are wildcards) contain the request's, and its
resourceNames, when present, contain the request's name (so a rule with names
never matches list, watch or create of a collection). No rule, no access:
403 with the apiserver's Status. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from . import objects

SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class PolicyRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ("",)
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, rule: Mapping[str, Any]) -> PolicyRule:
        def words(key: str) -> tuple[str, ...]:
            return tuple(str(w) for w in rule.get(key) or ())

        return cls(words("verbs"), words("apiGroups"), words("resources"),
                   words("resourceNames"))


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it. namespace "" is the cluster scope."""

    verb: str
    resource: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    api_group: str = ""

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def _resource_matches(rule: PolicyRule, attrs: Attributes) -> bool:
    for resource in rule.resources:
        if resource in ("*", attrs.full_resource):
            return True
        if attrs.subresource and resource == f"*/{attrs.subresource}":
            return True
    return False


def rule_allows(rule: PolicyRule, attrs: Attributes) -> bool:
    """The RBAC evaluator's test of one rule against one request."""
    return (
        any(v in ("*", attrs.verb) for v in rule.verbs)
        and any(g in ("*", attrs.api_group) for g in rule.api_groups)
        and _resource_matches(rule, attrs)
        and (not rule.resource_names or attrs.name in rule.resource_names)
    )


@dataclass(frozen=True)
class Grant:
    """Rules bound to a user, cluster-wide (namespace None) or in one namespace."""

    rules: tuple[PolicyRule, ...]
    namespace: Optional[str] = None

    def allows(self, attrs: Attributes) -> bool:
        if self.namespace is not None and attrs.namespace != self.namespace:
            return False
        return any(rule_allows(rule, attrs) for rule in self.rules)


@dataclass(frozen=True)
class Identity:
    """An authenticated user and what is bound to it."""

    user: str
    grants: tuple[Grant, ...] = field(default=())

    def allows(self, attrs: Attributes) -> bool:
        return any(grant.allows(attrs) for grant in self.grants)


def service_account_user(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def groups_of(user: str) -> set[str]:
    """The groups Kubernetes puts a service account's user in (and every authenticated one)."""
    groups = {"system:authenticated"}
    if user.startswith(SA_PREFIX):
        namespace = user[len(SA_PREFIX):].split(":", 1)[0]
        groups |= {"system:serviceaccounts", f"system:serviceaccounts:{namespace}"}
    return groups


def _subject_is(subject: Mapping[str, Any], user: str, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return user == service_account_user(subject.get("namespace") or binding_namespace,
                                             str(name))
    if kind == "User":
        return user == name
    if kind == "Group":
        return name in groups_of(user)
    return False


def grants_for(user: str, manifests: Iterable[Mapping[str, Any]]) -> tuple[Grant, ...]:
    """What the (Cluster)RoleBindings among `manifests` give `user` (rendered objects)."""
    docs = list(manifests)

    def meta(doc: Mapping[str, Any]) -> tuple[str, str]:
        m = doc.get("metadata") or {}
        return str(m.get("name", "")), str(m.get("namespace", ""))

    roles = {("Role", *meta(d)): d for d in docs if d.get("kind") == "Role"}
    roles |= {("ClusterRole", meta(d)[0], ""): d for d in docs if d.get("kind") == "ClusterRole"}
    grants = []
    for doc in docs:
        kind = doc.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        _, namespace = meta(doc)
        if not any(_subject_is(s, user, namespace) for s in doc.get("subjects") or []):
            continue
        ref = doc.get("roleRef") or {}
        ref_kind = str(ref.get("kind", ""))
        role = roles.get((ref_kind, str(ref.get("name", "")),
                          namespace if ref_kind == "Role" else ""))
        if role is None:  # a binding to a missing role grants nothing, as in Kubernetes
            continue
        rules = tuple(PolicyRule.from_manifest(r) for r in role.get("rules") or [])
        grants.append(Grant(rules, namespace if kind == "RoleBinding" else None))
    return tuple(grants)


def forbidden(user: str, attrs: Attributes) -> dict[str, Any]:
    """The apiserver's 403 Status: `pods "X" is forbidden: User "U" cannot VERB resource
    "pods/exec" in API group "" in the namespace "NS"` (or `at the cluster scope`)."""
    where = (f'in the namespace "{attrs.namespace}"' if attrs.namespace
             else "at the cluster scope")
    reason = (f'User "{user}" cannot {attrs.verb} resource "{attrs.full_resource}" '
              f'in API group "{attrs.api_group}" {where}')
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    subject = f'{qualified} "{attrs.name}"' if attrs.name else qualified
    details: dict[str, Any] = {"kind": attrs.resource}
    if attrs.name:
        details = {"name": attrs.name, **details}
    if attrs.api_group:
        details["group"] = attrs.api_group
    return objects.status_failure(403, "Forbidden", f"{subject} is forbidden: {reason}", details)


def cluster_wide(rules: Sequence[PolicyRule]) -> tuple[Grant, ...]:
    return (Grant(tuple(rules)),)
