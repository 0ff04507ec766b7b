"""Defect 3: the cluster's secrets are private on the host, and the pod user still reads
its service account inside pods (in-cluster config works)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess

import pytest

from kube_pmix.local.layout import POD_USER, STATE_ROOT, StateDir

pytestmark = pytest.mark.cluster

IN_CLUSTER = (
    "from kubernetes import client, config\n"
    "config.load_incluster_config()\n"
    "pods = client.CoreV1Api().list_namespaced_pod('kube-pmix', label_selector="
    "'hpcnode=compute-node')\n"
    "print(len(pods.items))\n"
)


def mode_owner(path) -> tuple[int, str]:
    info = os.lstat(path)
    return stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name


def test_secrets_are_0600_in_0700_folders(local_cluster):
    state = StateDir.of(local_cluster.name)
    assert os.stat(STATE_ROOT).st_uid == 0
    assert mode_owner(state.root) == (0o700, "root")
    for path in (state.config, state.kubeconfig, state.restricted_kubeconfig,
                 state.restricted_token, state.server_key):
        assert mode_owner(path) == (0o600, "root"), path
    sa = state.service_account
    assert mode_owner(sa) == (0o700, POD_USER)
    for name in ("token", "ca.crt", "namespace"):
        assert mode_owner(sa / name) == (0o600, POD_USER), name


def test_another_host_user_cannot_read_the_token(local_cluster):
    token = StateDir.of(local_cluster.name).service_account / "token"
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "cat", str(token)], capture_output=True, text=True)
    assert result.returncode != 0 and "Permission denied" in result.stderr


def test_the_pod_user_uses_in_cluster_config_from_a_pod(local_cluster):
    python = f"{local_cluster.venv}/bin/python"
    result = local_cluster.pod_exec(local_cluster.compute_pods[0], [python, "-c", IN_CLUSTER])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(local_cluster.compute_pods))
