"""What the pods' service account may do, asked with `kubectl auth can-i` of both test beds.

The same table against the local cluster (its own RBAC evaluator answers the
SelfSubjectAccessReview, the same code that guards its routes) and the real
test bed (Kubernetes' RBAC authorizer), for the one Role both load from the
manifests: every verb and resource the project's tools use, and the ones they
must not have. A row where the two differ is a defect of the local cluster.
"""

from __future__ import annotations

import subprocess

import pytest

pytestmark = [pytest.mark.k8s, pytest.mark.cluster, pytest.mark.timeout(1800)]

# (verb, resource[/subresource], name, namespace or "" for the Role's, expected answer)
TABLE = [
    ("get", "pods", "", "", True),            # wait-for-pods, kubexec's pod lookup
    ("list", "pods", "", "", True),
    ("watch", "pods", "", "", True),
    ("create", "pods/exec", "hpc-cn-0", "", True),   # kubexec, the k8sgo launcher
    ("get", "pods/exec", "hpc-cn-0", "", True),      # the WebSocket upgrade is a GET
    ("create", "pods/exec", "LAST", "", True),       # the last compute pod
    ("create", "pods/exec", "PAST", "", False),      # one past it: not a compute pod
    ("create", "pods/exec", "", "", False),          # resourceNames never match no name
    ("create", "pods/exec", "LOGIN", "", False),     # not the login pod
    ("create", "pods/attach", "hpc-cn-0", "", False),
    ("delete", "pods", "hpc-cn-0", "", False),
    ("create", "pods", "", "", False),
    ("get", "secrets", "", "", False),
    ("list", "namespaces", "", "", False),
    ("get", "pods", "", "kube-system", False),      # other namespaces
    ("create", "pods/exec", "hpc-cn-0", "default", False),
]


def can_i(kubeconfig: str, verb: str, resource: str, name: str, namespace: str) -> str:
    kind, _, sub = resource.partition("/")
    argv = ["kubectl", "--kubeconfig", kubeconfig, "auth", "can-i", verb,
            f"{kind}/{name}" if name else kind]
    if sub:
        argv.append(f"--subresource={sub}")
    if namespace:
        argv += ["-n", namespace]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), f"{argv}: {done.returncode} {done.stderr}"
    return answer


def named(cluster, name: str) -> str:
    """The table's placeholders for names that depend on the cluster."""
    size = len(cluster.compute_pods)
    return {"LOGIN": cluster.login_pod, "LAST": f"hpc-cn-{size - 1}",
            "PAST": f"hpc-cn-{size}"}.get(name, name)


def answers(cluster, kubeconfig: str) -> list[tuple[str, str, str, str, str]]:
    rows = []
    for verb, resource, name, namespace, _ in TABLE:
        name = named(cluster, name)
        rows.append((verb, resource, name, namespace,
                     can_i(kubeconfig, verb, resource, name, namespace)))
    return rows


def expected(cluster) -> list[tuple[str, str, str, str, str]]:
    return [(v, r, named(cluster, n), ns, "yes" if ok else "no") for v, r, n, ns, ok in TABLE]


def test_the_local_evaluator_answers_the_table(local_cluster):
    assert answers(local_cluster, local_cluster.service_account_kubeconfig) == \
        expected(local_cluster)


def test_the_real_authorizer_answers_the_same_table(k8s_vcluster, local_cluster):
    real = answers(k8s_vcluster, k8s_vcluster.service_account_kubeconfig)
    assert real == expected(k8s_vcluster)
    # and row by row the same as the local cluster's (names aside: sizes differ)
    local = answers(local_cluster, local_cluster.service_account_kubeconfig)
    assert [r[-1] for r in real] == [r[-1] for r in local]
