"""The real Kubernetes test bed itself: its peers, DNS, registry, RBAC and CLI.

Upstream kubectl and the Python `kubernetes` client against the apiserver built
by `make k8s`; pods of the project's images pulled from the bed's registry by
containerd; names answered by CoreDNS; authorization decided by the real
RBAC authorizer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

# the session may build the images from nothing here (see tests/fixtures/images.py)
pytestmark = [pytest.mark.k8s, pytest.mark.timeout(1800)]

KUBE_PMIX = str(Path(sys.executable).parent / "kube-pmix")


def kubectl(bed, *args: str, kubeconfig: str = "", input: str = "",
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig or bed.kubeconfig, *args],
                          input=input or None, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_node_is_ready_for_kubectl_and_the_python_client(k8s_cluster):
    done = kubectl(k8s_cluster, "get", "nodes", "-o", "json")
    assert done.returncode == 0, done.stderr
    (node,) = json.loads(done.stdout)["items"]
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")

    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(k8s_cluster.kubeconfig))
    names = [n.metadata.name for n in api.list_node().items]
    assert names == [node["metadata"]["name"]]
    dns = api.read_namespaced_service("kube-dns", "kube-system")
    assert dns.spec.cluster_ip == "10.96.0.10"


def test_a_deployment_of_our_runtime_image_from_the_registry_becomes_ready(
        k8s_cluster, k8s_vcluster, built_images):
    namespace = f"kp-deploy-{uuid.uuid4().hex[:6]}"
    image = f"{k8s_cluster.registry_in_cluster}/kube-pmix/k8s-mpi-with-runtime:{built_images.tag}"
    manifest = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Namespace
        metadata: {{name: {namespace}}}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: runtime, namespace: {namespace}}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: runtime}}}}
          template:
            metadata: {{labels: {{app: runtime}}}}
            spec:
              securityContext: {{runAsNonRoot: true, runAsUser: 10001}}
              containers:
              - name: runtime
                image: {image}
                imagePullPolicy: IfNotPresent
                command: ["/opt/hpc/local/libexec/kube-pmix-node", "idle"]
                readinessProbe:
                  exec: {{command: ["prterun", "--version"]}}
                  periodSeconds: 2
        """)
    try:
        done = kubectl(k8s_cluster, "apply", "-f", "-", input=manifest)
        assert done.returncode == 0, done.stderr
        done = kubectl(k8s_cluster, "-n", namespace, "rollout", "status", "deployment/runtime",
                       "--timeout=180s", timeout=200)
        assert done.returncode == 0, done.stderr + done.stdout
        assert 'successfully rolled out' in done.stdout
    finally:
        kubectl(k8s_cluster, "delete", "namespace", namespace, "--wait=true", timeout=300)


def test_cluster_dns_answers_the_headless_service_and_the_registry(k8s_vcluster):
    pod = k8s_vcluster.compute_pods[1]
    names = [f"{pod}.hpc-cluster.{k8s_vcluster.namespace}.svc.cluster.local",
             "kubernetes.default.svc.cluster.local", "registry.kube-pmix.local"]
    result = k8s_vcluster.pod_exec(k8s_vcluster.login_pod,
                                   "for n in " + " ".join(names) + "; do getent hosts $n; done")
    assert result.returncode == 0, result.stderr
    answers = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()}
    assert answers[names[0]] == k8s_vcluster.ip(pod)
    assert answers["kubernetes.default.svc.cluster.local"] == "10.96.0.1"
    assert answers["registry.kube-pmix.local"] == "10.250.0.1"


def test_the_pods_service_account_may_exec_into_compute_pods_only(k8s_vcluster):
    """As the real RBAC authorizer decides it, from the login pod with in-cluster config."""
    compute = k8s_vcluster.compute_pods[0]
    done = kubectl(k8s_vcluster.bed, "-n", "kube-system", "get", "pods", "-l",
                   "k8s-app=kube-dns", "-o", "jsonpath={.items[0].metadata.name}")
    other = f"{done.stdout}.kube-dns.kube-system"  # pod.service.namespace: another namespace
    result = k8s_vcluster.pod_exec(
        k8s_vcluster.login_pod,
        f"kubexec {compute} hostname; echo rc=$?; "
        f"kubexec {k8s_vcluster.login_pod} true; echo rc=$?; "
        f"kubexec {other} true; echo rc=$?")
    lines = result.stdout.split()
    assert lines == [compute, "rc=0", "rc=255", "rc=255"], result.stderr
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and all("forbidden" in line for line in errors), errors
    assert k8s_vcluster.login_pod in errors[0]


def test_the_restricted_user_may_read_pods_but_not_exec(k8s_vcluster):
    bed = k8s_vcluster.bed
    done = kubectl(bed, "-n", k8s_vcluster.namespace, "get", "pods", "-o", "name",
                   kubeconfig=bed.restricted_kubeconfig)
    assert done.returncode == 0 and "pod/" in done.stdout, done.stderr
    done = kubectl(bed, "-n", k8s_vcluster.namespace, "exec", k8s_vcluster.compute_pods[0],
                   "--", "true", kubeconfig=bed.restricted_kubeconfig)
    assert done.returncode != 0 and "forbidden" in done.stderr


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBE_PMIX, "k8s", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_status_lists_every_component_running(k8s_cluster):
    done = cli("status", "--name", k8s_cluster.name)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[2] for line in done.stdout.splitlines()[1:]
            if line.strip() and not line.startswith(("ready", "not ready"))}
    for component in ("registry", "etcd", "kube-apiserver", "kube-controller-manager",
                      "kube-scheduler", "containerd", "kubelet", "kube-proxy"):
        assert rows.get(component) == "running", done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("ready;")


def test_up_of_a_running_bed_is_refused_with_one_line(k8s_cluster):
    done = cli("up", "--name", k8s_cluster.name)
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "already running" in done.stderr


def test_an_unknown_bed_is_one_line_and_status_5():
    done = cli("kubeconfig", "--name", "no-such-bed")
    assert (done.returncode, done.stderr.count("\n")) == (5, 1), done.stderr
    assert "no-such-bed" in done.stderr
