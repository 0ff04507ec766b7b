"""kube-pmix-wait-for-pods against the local cluster's real API (list + watch), always as the
pods' service account (the manifests' Role, nothing more):
hostfiles in ordinal order, pods that turn Ready late, pods that never do, and
in-cluster use from inside the login pod (service-account config, DNS names)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.cluster

WAITER = str(Path(sys.executable).parent / "kube-pmix-wait-for-pods")


def _waiter(kubeconfig: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WAITER, "--kubeconfig", kubeconfig, "--no-dns", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def _add_pod(cluster: Any, name: str, app: str, **annotations: str) -> None:
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": app}, "annotations": annotations},
            "spec": {"containers": [{"name": "main", "image": "kube-pmix/local"}]}}
    status, reply = cluster.api_request("POST", f"/api/v1/namespaces/{cluster.namespace}/pods",
                                        body)
    assert status == 201, reply


def test_hostfiles_of_the_compute_pods(local_cluster: Any, tmp_path: Path) -> None:
    done = _waiter(local_cluster.service_account_kubeconfig, "--count", "5", "--slots", "2",
                   "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    pods = local_cluster.compute_pods
    assert pods == [f"hpc-cn-{i}" for i in range(5)]
    assert (tmp_path / "hostfile").read_text() == "".join(
        f"hpc-cn-{i}.hpc-cluster.kube-pmix slots=2\n" for i in range(5))
    assert (tmp_path / "hostfile_ip").read_text() == "".join(
        f"{local_cluster.ip(p)} slots=2\n" for p in pods)
    assert "5/5 pods ready" in done.stderr


def test_inside_the_login_pod_with_in_cluster_config_and_dns(local_cluster: Any) -> None:
    """As the init container runs it: service-account credentials, names that must resolve."""
    login = local_cluster.login_pod
    done = local_cluster.pod_exec(login, [
        f"{local_cluster.venv}/bin/kube-pmix-wait-for-pods", "--count", "5", "--host-format",
        "{pod}", "--self-name", f"{login}.hpc-cluster.kube-pmix", "-o", "/tmp/hpc-etc",
        "--timeout", "60",
    ], timeout=90)
    assert done.returncode == 0, done.stderr
    files = local_cluster.pod_exec(login, "cat /tmp/hpc-etc/hostfile /tmp/hpc-etc/hostfile_ip")
    ips = [local_cluster.ip(p) for p in local_cluster.compute_pods]
    assert files.stdout.split() == local_cluster.compute_pods + ips


def test_pods_that_become_ready_late(cluster_factory: Any, tmp_path: Path) -> None:
    """The waiter is already watching when the pods appear, not Ready, and turn Ready later."""
    cluster = cluster_factory(nodes=1)
    waiter = subprocess.Popen(
        [WAITER, "--kubeconfig", cluster.service_account_kubeconfig, "--no-dns", "-l", "app=late",
         "--service", "", "--count", "2", "-o", str(tmp_path), "--timeout", "90"],
        stderr=subprocess.PIPE, text=True)
    try:
        assert waiter.stderr is not None
        first = waiter.stderr.readline()  # printed after the initial list: no pods yet
        assert first == "wait-for-pods: 0/2 pods ready (0 exist)\n"
        # Ordinal order, not creation or name order: 2 before 10.
        _add_pod(cluster, "late-10", "late", **{"kube-pmix.dev/ready-after-seconds": "1"})
        _add_pod(cluster, "late-2", "late", **{"kube-pmix.dev/ready-after-seconds": "2"})
        rest = waiter.stderr.read()
        assert waiter.wait(timeout=120) == 0, rest
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    progress = rest.splitlines()
    assert any("waiting for late-" in line and "not Ready" in line for line in progress), rest
    assert "wait-for-pods: 2/2 pods ready" in progress
    assert (tmp_path / "hostfile").read_text() == "late-2\nlate-10\n"
    assert (tmp_path / "hostfile_ip").read_text() == f"{cluster.ip('late-2')}\n" \
        f"{cluster.ip('late-10')}\n"


def test_pods_that_never_become_ready_are_named(cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(nodes=1)
    _add_pod(cluster, "stuck-0", "stuck")
    _add_pod(cluster, "stuck-1", "stuck", **{"kube-pmix.dev/never-ready": "true"})
    done = _waiter(cluster.service_account_kubeconfig, "-l", "app=stuck", "--count", "3",
                   "-o", str(tmp_path), "--timeout", "3")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("wait-for-pods: timed out in namespace kube-pmix: 1 of 3 pods ready after "
                    "3s; not ready: stuck-1 (Running, not Ready); only 2 matching pods exist")
    assert not (tmp_path / "hostfile").exists()


def test_api_refusal_is_exit_3(local_cluster: Any, tmp_path: Path) -> None:
    text = Path(local_cluster.kubeconfig).read_text()
    token = next(line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.strip().startswith("token:"))
    bad = tmp_path / "kubeconfig"
    bad.write_text(text.replace(token, "not-a-valid-token"))
    done = _waiter(str(bad), "--count", "1", "-o", str(tmp_path), "--timeout", "30")
    assert done.returncode == 3
    assert done.stderr.startswith("wait-for-pods: Kubernetes API error 401")


def test_the_rendered_init_container_command_runs_in_the_login_pod(local_cluster: Any) -> None:
    """The job-waiter command line of the rendered manifests, as the kubelet would run it
    (with $(POD_NAMESPACE) expanded), inside the local cluster's login pod."""
    import shutil

    from kube_pmix.vcluster.render import RenderParams, render

    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl to render the manifests")
    objects = render(RenderParams("kubectl-with-podman-unpriv", replicas=5, slots=4))
    job = next(o for o in objects if o["kind"] == "Job")
    waiter = job["spec"]["template"]["spec"]["initContainers"][0]
    login = local_cluster.login_pod
    argv = []
    for word in waiter["command"]:
        word = word.replace("$(POD_NAMESPACE)", local_cluster.namespace)
        if word == "kube-pmix-wait-for-pods":
            word = f"{local_cluster.venv}/bin/{word}"
        elif word.startswith("--output-dir="):
            word = "--output-dir=/tmp/rendered-etc"  # the pod's private /tmp
        elif word.startswith("--self-name="):
            # A Job pod's own DNS name comes from spec.hostname on a real cluster; the
            # local cluster names the login pod by its generated name.
            assert word == "--self-name=hpc-cluster-login.hpc-cluster.kube-pmix"
            word = f"--self-name={login}.hpc-cluster.kube-pmix"
        argv.append(word)
    done = local_cluster.pod_exec(login, argv, timeout=120)
    assert done.returncode == 0, done.stderr
    hostfile = local_cluster.pod_exec(login, "cat /tmp/rendered-etc/hostfile").stdout
    assert hostfile == "".join(f"hpc-cn-{i}.hpc-cluster.kube-pmix slots=4\n" for i in range(5))
