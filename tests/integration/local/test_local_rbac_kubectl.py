"""Defect 4: the pods' service account has exactly the manifests' Role, read by real kubectl
and by kubexec; anything more is a 403 with the apiserver's Status."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed", allow_module_level=True)

SA = "system:serviceaccount:kube-pmix:hpc-cluster"


def as_pods(cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", cluster.service_account_kubeconfig,
                           *args], capture_output=True, text=True, timeout=60)


def forbidden_exec(pod: str) -> str:
    return (f'Error from server (Forbidden): pods "{pod}" is forbidden: User "{SA}" cannot '
            f'create resource "pods/exec" in API group "" in the namespace "kube-pmix"')


def test_kubectl_as_the_pods_reads_and_execs_into_compute_pods_only(local_cluster):
    pod = local_cluster.compute_pods[0]
    listed = as_pods(local_cluster, "get", "pods", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    done = as_pods(local_cluster, "exec", pod, "--", "hostname")
    assert (done.returncode, done.stdout) == (0, f"{pod}\n"), done.stderr
    login = local_cluster.login_pod
    refused = as_pods(local_cluster, "exec", login, "--", "hostname")
    assert refused.returncode == 1
    assert refused.stderr.strip() == forbidden_exec(login)


def test_kubectl_as_the_pods_cannot_delete_nor_look_at_other_namespaces(local_cluster):
    pod = local_cluster.compute_pods[0]
    deleted = as_pods(local_cluster, "delete", "pod", pod, "--wait=false")
    assert deleted.returncode == 1 and (
        'cannot delete resource "pods" in API group "" in the namespace "kube-pmix"'
        in deleted.stderr)
    everywhere = as_pods(local_cluster, "get", "pods", "-A")
    assert everywhere.returncode == 1 and "at the cluster scope" in everywhere.stderr
    namespaces = as_pods(local_cluster, "get", "namespaces")
    assert namespaces.returncode == 1 and 'cannot list resource "namespaces"' in namespaces.stderr
    assert pod in local_cluster.pods()  # nothing was deleted


def test_kubexec_under_the_role_is_refused_the_login_pod(local_cluster):
    kubexec = str(Path(local_cluster.venv) / "bin" / "kubexec")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEXEC_")}
    env["KUBECONFIG"] = local_cluster.service_account_kubeconfig
    login = local_cluster.login_pod
    result = subprocess.run([kubexec, login, "hostname"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 255
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and login in lines[0] and "forbidden" in lines[0]
    assert f'User "{SA}" cannot create resource "pods/exec"' in lines[0]
    pod = local_cluster.compute_pods[0]
    allowed = subprocess.run([kubexec, pod, "hostname"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert (allowed.returncode, allowed.stdout) == (0, f"{pod}\n"), allowed.stderr
