"""kubectl 1.32 (a client nobody here wrote) against the local cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.cluster

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def kubectl(local_cluster, tmp_path_factory):
    cache = tmp_path_factory.mktemp("kubectl-cache")

    def run(*args: str, input: str | None = None, token: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        extra = [f"--token={token}"] if token else []
        env = dict(os.environ, KUBECACHEDIR=str(cache))
        return subprocess.run(
            ["kubectl", "--kubeconfig", local_cluster.kubeconfig, *extra, *args],
            input=input, capture_output=True, text=True, timeout=timeout, env=env)

    return run


def test_get_pods_lists_every_pod_running_and_ready(local_cluster, kubectl):
    result = kubectl("get", "pods")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "READY", "STATUS"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {*local_cluster.compute_pods, local_cluster.login_pod}
    assert all(row[1] == "1/1" and row[2] == "Running" for row in rows.values())


def test_label_selector_and_json(local_cluster, kubectl):
    result = kubectl("get", "pods", "-l", "hpcnode=compute-node", "-o", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    names = [item["metadata"]["name"] for item in doc["items"]]
    assert sorted(names) == sorted(local_cluster.compute_pods)
    ips = {item["metadata"]["name"]: item["status"]["podIP"] for item in doc["items"]}
    assert ips == {pod: local_cluster.ip(pod) for pod in local_cluster.compute_pods}
    notin = kubectl("get", "pods", "-l", "hpcnode notin (compute-node)", "-o", "name")
    assert notin.stdout.split() == [f"pod/{local_cluster.login_pod}"]


def test_exec_forwards_stdin_and_stdout(local_cluster, kubectl):
    result = kubectl("exec", "-i", local_cluster.compute_pods[0], "--", "sh", "-c",
                     "tr a-z A-Z; echo err >&2", input="hello pods\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "HELLO PODS\n"
    assert result.stderr == "err\n"


def test_exec_large_output_arrives_whole(local_cluster, kubectl):
    result = kubectl("exec", local_cluster.compute_pods[1], "--",
                     "head", "-c", "300000", "/dev/zero")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\0" * 300000


def test_exec_exit_code_is_the_remote_one(local_cluster, kubectl):
    result = kubectl("exec", local_cluster.compute_pods[0], "--", "sh", "-c", "exit 3")
    assert result.returncode == 3
    assert "command terminated with exit code 3" in result.stderr


def test_exec_runs_as_pod_user_in_pod_environment(local_cluster, kubectl):
    pod = local_cluster.compute_pods[2]
    result = kubectl("exec", pod, "--", "sh", "-c",
                     "id -un; hostname; pwd; echo $PRTE_MCA_plm_ssh_agent; command -v prterun")
    assert result.returncode == 0, result.stderr
    user, host, cwd, agent, prterun = result.stdout.split()
    assert (user, host, agent) == ("mpiuser", pod, "kubexec")
    assert cwd == os.path.expanduser("~mpiuser")
    # one PRRTE: the one with plm/k8sgo
    assert prterun == f"{local_cluster.config.prrte}/bin/prterun"


def test_exec_with_container_names(local_cluster, kubectl):
    login = local_cluster.login_pod
    ok = kubectl("exec", login, "-c", "hpc-login", "--", "hostname")
    assert (ok.returncode, ok.stdout) == (0, f"{login}\n"), ok.stderr
    bad = kubectl("exec", login, "-c", "nope", "--", "true")
    assert bad.returncode == 1
    assert f"container nope is not valid for pod {login}" in bad.stderr
    stopped = kubectl("exec", login, "-c", "job-waiter", "--", "true")
    assert stopped.returncode == 1
    assert 'unable to upgrade connection: container not found ("job-waiter")' in stopped.stderr


def test_exec_unknown_pod_is_not_found(kubectl):
    result = kubectl("exec", "no-such-pod", "--", "true")
    assert result.returncode == 1
    assert 'Error from server (NotFound): pods "no-such-pod" not found' in result.stderr


def test_restricted_token_reads_but_cannot_exec(local_cluster, kubectl):
    token = local_cluster.restricted_token
    assert kubectl("get", "pods", token=token).returncode == 0
    result = kubectl("exec", local_cluster.compute_pods[0], "--", "true", token=token)
    assert result.returncode == 1
    assert "Error from server (Forbidden)" in result.stderr
    assert 'cannot create resource "pods/exec"' in result.stderr


def test_bad_token_is_unauthorized(kubectl):
    result = kubectl("get", "pods", token="not-a-token")
    assert result.returncode == 1
    assert "Unauthorized" in result.stderr


def test_tty_exec_gets_a_terminal(local_cluster, kubectl):
    if shutil.which("script") is None:
        pytest.skip("needs script(1) to give kubectl a terminal")
    command = (f"kubectl --kubeconfig {local_cluster.kubeconfig} exec -it "
               f"{local_cluster.compute_pods[0]} -- sh -c 'tty; echo term=$TERM'")
    result = subprocess.run(["script", "-qec", command, "/dev/null"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/dev/pts/" in result.stdout
    assert "term=xterm" in result.stdout


def test_in_cluster_config_from_inside_a_pod(local_cluster):
    """kubectl inside a pod, as the pod user, with no kubeconfig: the service account."""
    result = local_cluster.pod_exec(
        local_cluster.compute_pods[0],
        f"kubectl get pods -o name && kubectl exec {local_cluster.compute_pods[1]} -- hostname",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    assert f"pod/{local_cluster.login_pod}" in lines
    assert lines[-1] == local_cluster.compute_pods[1]


def test_logs_and_namespace_lookups(local_cluster, kubectl):
    logs = kubectl("logs", local_cluster.compute_pods[0])
    assert (logs.returncode, logs.stdout) == (0, ""), logs.stderr
    ns = kubectl("get", "namespace", "kube-pmix", "-o", "name")
    assert ns.stdout.strip() == "namespace/kube-pmix"
