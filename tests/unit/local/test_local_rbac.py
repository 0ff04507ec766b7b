"""The RBAC evaluator on rules, and the rights the rendered manifests give the pods."""

from __future__ import annotations

import json
import shutil

import pytest

from kube_pmix.local.auth import SA_USER, identities
from kube_pmix.local.config import ClusterConfig
from kube_pmix.local.rbac import (
    Attributes,
    Grant,
    Identity,
    PolicyRule,
    forbidden,
    grants_for,
    rule_allows,
)

EXEC_RULE = PolicyRule(verbs=("create", "get"), resources=("pods/exec",),
                       resource_names=("hpc-cn-0", "hpc-cn-1"))


def exec_on(pod: str, verb: str = "create", namespace: str = "kube-pmix") -> Attributes:
    return Attributes(verb, "pods", namespace, pod, "exec")


@pytest.mark.parametrize(("rule", "attrs", "allowed"), [
    (EXEC_RULE, exec_on("hpc-cn-1"), True),
    (EXEC_RULE, exec_on("hpc-cn-1", "get"), True),
    (EXEC_RULE, exec_on("hpc-cluster-login-abcde"), False),  # not among the names
    (EXEC_RULE, exec_on("hpc-cn-1", "delete"), False),
    (EXEC_RULE, Attributes("get", "pods", "kube-pmix", "hpc-cn-1"), False),  # not the subresource
    (EXEC_RULE, Attributes("create", "pods", "kube-pmix", "", "exec"), False),  # names: no list
    (PolicyRule(("get",), resources=("pods",)), exec_on("x", "get"), False),  # pods != pods/exec
    (PolicyRule(("*",), resources=("*/exec",)), exec_on("x"), True),
    (PolicyRule(("*",), resources=("*",)), exec_on("x"), True),
    (PolicyRule(("*",), ("apps",), ("*",)), exec_on("x"), False),  # another API group
    (PolicyRule(("*",), ("*",), ("*",)), Attributes("list", "deployments", "", "", "", "apps"),
     True),
    (PolicyRule(("list", "watch"), resources=("pods",)), Attributes("watch", "pods"), True),
])
def test_rule_allows(rule, attrs, allowed):
    assert rule_allows(rule, attrs) is allowed


ROLE_DOCS = [
    {"kind": "Role", "metadata": {"name": "r", "namespace": "ns"},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]},
    {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "ns"},
     "roleRef": {"kind": "Role", "name": "r"},
     "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]},
    {"kind": "RoleBinding", "metadata": {"name": "dangling", "namespace": "ns"},
     "roleRef": {"kind": "Role", "name": "missing"},
     "subjects": [{"kind": "Group", "name": "system:serviceaccounts"}]},
]


def test_a_rolebinding_grants_only_in_its_namespace_and_only_to_its_subject():
    user = "system:serviceaccount:ns:sa"
    me = Identity(user, grants_for(user, ROLE_DOCS))
    assert me.allows(Attributes("list", "pods", "ns"))
    assert not me.allows(Attributes("list", "pods", "other"))
    assert not me.allows(Attributes("list", "pods", ""))  # all namespaces: cluster scope
    assert not me.allows(Attributes("create", "pods", "ns"))
    other = "system:serviceaccount:ns:default"
    assert grants_for(other, ROLE_DOCS) == ()  # a binding to a missing role grants nothing


def test_groups_and_cluster_role_bindings():
    docs = [
        {"kind": "ClusterRole", "metadata": {"name": "view"},
         "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "all-sa"},
         "roleRef": {"kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "Group", "name": "system:serviceaccounts:ns"}]},
    ]
    grants = grants_for("system:serviceaccount:ns:x", docs)
    assert grants == (Grant((PolicyRule(("get",), ("",), ("namespaces",)),), None),)
    assert grants_for("system:serviceaccount:elsewhere:x", docs) == ()


def test_forbidden_is_the_apiserver_status():
    body = forbidden("system:serviceaccount:kube-pmix:hpc-cluster", exec_on("hpc-login-x"))
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "reason": "Forbidden", "code": 403,
        "details": {"name": "hpc-login-x", "kind": "pods"},
        "message": 'pods "hpc-login-x" is forbidden: User "system:serviceaccount:kube-pmix:'
                   'hpc-cluster" cannot create resource "pods/exec" in API group "" in the '
                   'namespace "kube-pmix"',
    }
    listing = forbidden("u", Attributes("list", "pods"))
    assert listing["message"] == ('pods is forbidden: User "u" cannot list resource "pods" in '
                                  'API group "" at the cluster scope')
    assert listing["details"] == {"kind": "pods"}


CONFIG = ClusterConfig(name="t", nodes=2, subnet_index=8, idle_timeout=None, admin_token="adm",
                       sa_token="sa", restricted_token="ro", venv="/v", uid=0, gid=0,
                       home="/", user="root")


def test_admin_everything_viewer_reads_without_exec():
    ids = identities(CONFIG)
    admin, viewer = ids["adm"], ids["ro"]
    assert admin.allows(Attributes("delete", "pods", "kube-pmix", "x"))
    assert admin.allows(exec_on("anything"))
    assert viewer.allows(Attributes("watch", "pods", ""))
    assert viewer.allows(Attributes("get", "pods", "kube-pmix", "x", "log"))
    assert viewer.allows(Attributes("get", "namespaces", "default", "default"))
    assert not viewer.allows(exec_on("hpc-cn-0", "get"))
    assert not viewer.allows(Attributes("create", "pods", "kube-pmix"))


@pytest.mark.skipif(shutil.which("kubectl") is None,
                    reason="rendering the manifests needs kubectl kustomize")
def test_the_rendered_role_gives_the_pods_exactly_what_the_tools_need():
    from kube_pmix.local.podrbac import render_pod_rbac

    sa = identities(CONFIG, render_pod_rbac(3))["sa"]
    assert sa.user == SA_USER == "system:serviceaccount:kube-pmix:hpc-cluster"
    ns = "kube-pmix"
    # wait-for-pods: list + watch; kubexec and kubectl exec: get the pod, exec into it
    for attrs in (Attributes("list", "pods", ns), Attributes("watch", "pods", ns),
                  Attributes("get", "pods", ns, "hpc-cn-2"), exec_on("hpc-cn-2"),
                  exec_on("hpc-cn-2", "get")):
        assert sa.allows(attrs), attrs
    for attrs in (exec_on("hpc-cn-3"), exec_on("hpc-cluster-login-abcde"),
                  Attributes("list", "pods", ""), Attributes("list", "pods", "default"),
                  Attributes("delete", "pods", ns, "hpc-cn-0"), Attributes("create", "pods", ns),
                  Attributes("list", "namespaces"),
                  Attributes("get", "namespaces", ns, ns)):
        assert not sa.allows(attrs), attrs


@pytest.mark.skipif(shutil.which("kubectl") is None,
                    reason="compares with what kubectl kustomize renders")
def test_without_kubectl_the_base_rbac_reads_the_same():
    from kube_pmix.local.podrbac import NAMESPACE, VARIANT, base_rbac, render_pod_rbac
    from kube_pmix.vcluster.render import RenderParams

    def essentials(docs):
        return sorted(json.dumps([d["kind"], d["metadata"]["name"], d["metadata"]["namespace"],
                                  d.get("rules"), d.get("subjects"), d.get("roleRef")],
                                 sort_keys=True) for d in docs)

    params = RenderParams(variant=VARIANT, namespace=NAMESPACE, replicas=4)
    assert essentials(base_rbac(params)) == essentials(render_pod_rbac(4))


def test_up_needs_no_kubectl_for_the_role(monkeypatch):
    from kube_pmix.local import podrbac

    monkeypatch.setattr(podrbac.shutil, "which", lambda name: None)
    sa = identities(CONFIG, podrbac.render_pod_rbac(2))["sa"]
    assert sa.allows(exec_on("hpc-cn-1")) and not sa.allows(exec_on("hpc-cn-2"))
    assert sa.allows(Attributes("watch", "pods", "kube-pmix"))
