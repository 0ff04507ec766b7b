"""The cluster's add-ons, as Kubernetes objects applied once the node is up.

CoreDNS answers the cluster's names at the `kube-dns` Service address the
kubelet gives every pod (as kubeadm deploys it, minus the upstream forwarder:
this test bed has no network outside), and also resolves the registry's name,
so podman in a pod pulls from it by the same name as containerd does. Beside
it, a read-only user (`kube-pmix-restricted`: get, list and watch pods, their
logs and namespaces; no exec) for the tests of what is forbidden.
"""

from __future__ import annotations

from typing import Any

from . import layout

COREDNS_VERSION = "1.14.3"   # k8s/coredns/go.mod
COREDNS_IMAGE = f"kube-pmix.local/coredns:{COREDNS_VERSION}"
COREDNS_PORT = 1053          # unprivileged, so the container needs no capability
COREDNS_UID = 65532
RESTRICTED_USER = "kube-pmix-restricted"

Obj = dict[str, Any]


def corefile() -> str:
    return (
        f".:{COREDNS_PORT} {{\n"
        "    errors\n"
        "    health :8080\n"
        "    ready :8181\n"
        "    hosts {\n"
        f"        {layout.NODE_IP} {layout.REGISTRY_NAME}\n"
        "        fallthrough\n"
        "    }\n"
        f"    kubernetes {layout.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "        ttl 30\n"
        "    }\n"
        "    cache 30\n"
        "    loadbalance\n"
        "}\n"
    )


def _meta(name: str, namespace: str = "kube-system", **labels: str) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return meta


def coredns() -> list[Obj]:
    labels = {"k8s-app": "kube-dns"}
    container = {
        "name": "coredns",
        "image": COREDNS_IMAGE,
        "imagePullPolicy": "Never",  # imported into containerd at `up`
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [{"name": "dns", "containerPort": COREDNS_PORT, "protocol": "UDP"},
                  {"name": "dns-tcp", "containerPort": COREDNS_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181},
                           "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"path": "/health", "port": 8080},
                          "initialDelaySeconds": 10, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                      "limits": {"memory": "128Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("coredns")},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "system:coredns"},
         "rules": [
             # the kubernetes plugin watches these to answer names and reverse lookups
             {"apiGroups": [""], "resources": ["services", "pods", "namespaces"],
              "verbs": ["list", "watch"]},
             {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
              "verbs": ["list", "watch"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "system:coredns"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "system:coredns"},
         "subjects": [{"kind": "ServiceAccount", "name": "coredns",
                       "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("coredns"),
         "data": {"Corefile": corefile()}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": _meta("coredns", **labels),
         "spec": {
             "replicas": 1,
             "selector": {"matchLabels": labels},
             "template": {
                 "metadata": {"labels": labels},
                 "spec": {
                     "serviceAccountName": "coredns",
                     "priorityClassName": "system-cluster-critical",
                     "dnsPolicy": "Default",
                     "securityContext": {"runAsNonRoot": True, "runAsUser": COREDNS_UID,
                                         "runAsGroup": COREDNS_UID,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [container],
                     "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                 },
             },
         }},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": _meta("kube-dns", **labels, **{"kubernetes.io/name": "CoreDNS"}),
         "spec": {
             "clusterIP": str(layout.DNS_SERVICE_IP),
             "selector": labels,
             "ports": [{"name": "dns", "port": 53, "targetPort": COREDNS_PORT,
                        "protocol": "UDP"},
                       {"name": "dns-tcp", "port": 53, "targetPort": COREDNS_PORT,
                        "protocol": "TCP"}],
         }},
    ]


def restricted_user() -> list[Obj]:
    """What the local cluster's restricted token may do, as RBAC on the real one."""
    name = RESTRICTED_USER
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": name},
         "rules": [{"apiGroups": [""], "resources": ["pods", "pods/log", "namespaces"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                       "name": name}]},
    ]


def all_objects() -> list[Obj]:
    return [*coredns(), *restricted_user()]
