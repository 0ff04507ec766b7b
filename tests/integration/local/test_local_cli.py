"""`kube-pmix local` as a user meets it: messages, exit statuses, and clean removal."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys

import pytest

from tests.fixtures.cluster import leftovers

pytestmark = pytest.mark.cluster


def cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "kube_pmix", "local", *args],
                          capture_output=True, text=True, timeout=120, cwd="/")


def test_not_root_is_one_clear_line():
    if os.geteuid() != 0:
        result = cli("up", "--name", "kp-nonroot")
    else:
        user = pwd.getpwnam("mpiuser")
        result = cli("up", "--name", "kp-nonroot", prefix=(
            "setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "needs root" in result.stderr


def test_up_without_the_pod_users_podman_store_fails_before_making_anything(
        tmp_path, monkeypatch):
    """Each pod binds a store of its own over it; without one, pods would share the
    host's. (The real store is other suites' too: this one points elsewhere.)"""
    from kube_pmix.local import users
    from kube_pmix.local.cluster import Cluster, down
    from kube_pmix.local.errors import SetupError

    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root")
    if users.shutil.which("podman") is None:
        pytest.skip("without podman there is no store to share")
    absent = tmp_path / "containers"
    monkeypatch.setattr(users, "podman_store", lambda entry: absent)
    name = f"kp-nostore-{os.getpid() % 10000}"
    try:
        with pytest.raises(SetupError, match=f"no podman store {absent}"):
            Cluster.up(name=name, nodes=1)
    finally:
        down(name)  # only if it came up anyway
    assert leftovers(name) == []


def test_status_kubeconfig_and_second_up(cluster_factory):
    cluster = cluster_factory(nodes=2)
    status = cli("status", "--name", cluster.name)
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()[1:]]
    assert {r[0] for r in rows} == {*cluster.compute_pods, cluster.login_pod}
    assert all(r[1] == "Running" and r[3] == "true" for r in rows)
    first = cluster.compute_pods[0]
    assert {r[0]: r[2] for r in rows}[first] == cluster.ip(first)
    assert cli("kubeconfig", "--name", cluster.name).stdout.strip() == cluster.kubeconfig
    again = cli("up", "--name", cluster.name)
    assert again.returncode == 4
    assert "already running" in again.stderr


def test_down_cleans_up_after_a_crashed_server(cluster_factory):
    cluster = cluster_factory(nodes=2)
    pid = int(cluster.state.daemon_pid.read_text())
    os.kill(pid, signal.SIGKILL)
    result = cli("down", "--name", cluster.name)
    assert result.returncode == 0, result.stderr
    assert leftovers(cluster.name) == []
    again = cli("down", "--name", cluster.name)
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_unknown_cluster_status_fails_clearly():
    if os.geteuid() != 0:
        pytest.skip("reading cluster state needs root")
    result = cli("status", "--name", "kp-no-such-cluster")
    assert result.returncode == 5
    assert "no local cluster named 'kp-no-such-cluster'" in result.stderr


def test_two_clusters_coexist_on_different_subnets(local_cluster, cluster_factory):
    other = cluster_factory(nodes=1)
    a, b = local_cluster.ip(local_cluster.compute_pods[0]), other.ip(other.compute_pods[0])
    assert a.rsplit(".", 1)[0] != b.rsplit(".", 1)[0]
    result = other.pod_exec(other.compute_pods[0], "hostname")
    assert result.stdout.strip() == other.compute_pods[0]


def test_login_without_pod_or_command_is_a_login_shell_with_the_tools(local_cluster):
    """`kube-pmix local login` opens `bash -l` in the login pod; a login shell reads
    /etc/profile (which resets PATH) and must still find prterun and kubexec."""
    result = subprocess.run(
        [sys.executable, "-m", "kube_pmix", "local", "login", "--name", local_cluster.name],
        input="hostname; command -v prterun kubexec; shopt -q login_shell && echo login\n",
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    host, prterun, kubexec, login = result.stdout.split()
    venv_bin = f"{local_cluster.venv}/bin"
    # one PRRTE: the one with plm/k8sgo
    assert (host, prterun, kubexec, login) == (
        local_cluster.login_pod, f"{local_cluster.config.prrte}/bin/prterun",
        f"{venv_bin}/kubexec", "login")


def test_a_login_shell_in_a_compute_pod_keeps_the_pod_environment(local_cluster):
    pod = local_cluster.compute_pods[0]
    done = local_cluster.pod_exec(pod, ["bash", "-lc", "command -v prterun; "
                                        "echo $PRTE_MCA_plm_ssh_agent"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"{local_cluster.config.prrte}/bin/prterun", "kubexec"]
