"""The transports' pure parts: daemon argv, the ssh command line, pod lookup from one list."""

from __future__ import annotations

import shlex

import pytest

from launchers.k8sgo.errors import UnknownHost
from launchers.k8sgo.settings import daemon_env
from launchers.k8sgo.transports.k8s import pod_index, resolve_all
from launchers.k8sgo.transports.ssh import remote_command

# What PRRTE hands its launcher: quotes, `;`, `$`, an empty word.
PRRTE = ["/x/bin/prted", "--prtemca", "ess", '"env"', "--prtemca", "ess_base_jobid", "a;b",
         "$HOME", "", "it's"]


def test_daemon_env_is_the_id_alone() -> None:
    assert daemon_env(7) == {"PRTE_ESS_K8SGO_ID": "7"}


def test_ssh_command_line_splits_back_into_the_same_words() -> None:
    line = remote_command(PRRTE, 30, "kubexec-guard", daemon_env(2))
    assert shlex.split(line) == ["kubexec-guard", "--heartbeat-timeout", "30",
                                 "--env", "PRTE_ESS_K8SGO_ID=2", "--", *PRRTE]


def test_a_detachable_launch_starts_detachable_guards() -> None:
    line = remote_command(PRRTE, 30, "kubexec-guard", daemon_env(2), detachable=True)
    assert shlex.split(line) == ["kubexec-guard", "--heartbeat-timeout", "30", "--detachable",
                                 "--env", "PRTE_ESS_K8SGO_ID=2", "--", *PRRTE]


def pod(name: str, ip: str, phase: str = "Running") -> dict:
    return {"metadata": {"name": name}, "status": {"phase": phase, "podIP": ip,
                                                   "podIPs": [{"ip": ip}]}}


def test_pod_index_prefers_running_pods_for_a_reused_ip() -> None:
    names, by_ip = pod_index([pod("old", "10.0.0.5", "Succeeded"), pod("new", "10.0.0.5")])
    assert names == {"old", "new"}
    assert by_ip == {"10.0.0.5": "new"}


def test_resolve_all_names_services_and_ips() -> None:
    listings = {"ns": [pod("hpc-cn-0", "10.0.0.1"), pod("hpc-cn-1", "10.0.0.2")],
                "other": [pod("hpc-cn-0", "10.0.1.1")]}
    hosts = ["hpc-cn-0.hpc-cluster", "10.0.0.2", "hpc-cn-0.hpc-cluster.other.svc.cluster.local"]
    assert resolve_all(hosts, listings, "ns") == [
        ("hpc-cn-0", "ns"), ("hpc-cn-1", "ns"), ("hpc-cn-0", "other")]


@pytest.mark.parametrize("hosts, message", [
    (["hpc-cn-9"], "hpc-cn-9: no pod hpc-cn-9 in namespace ns"),
    (["10.9.9.9"], "10.9.9.9: no pod has this IP in namespace ns"),
    (["hpc-cn-0", "10.0.0.1"], "10.0.0.1: same pod as hpc-cn-0"),
])
def test_resolve_all_refuses_unknown_and_repeated_pods(hosts: list, message: str) -> None:
    with pytest.raises(UnknownHost, match=message):
        resolve_all(hosts, {"ns": [pod("hpc-cn-0", "10.0.0.1")]}, "ns")


def test_ssh_endpoint_follows_the_client_config_then_2222(tmp_path) -> None:
    from launchers.k8sgo.settings import Settings
    from launchers.k8sgo.transports.ssh import SshTransport

    config = tmp_path / "ssh_config"
    config.write_text("Host hpc-cn-*\n    Port 2200\nHost alias\n    Hostname 10.0.0.9\n")
    ssh = SshTransport(Settings(transport="ssh", ssh_config=(str(config),)))
    assert ssh.endpoint("hpc-cn-3.hpc-cluster") == ("hpc-cn-3.hpc-cluster", 2200)
    assert ssh.endpoint("alias") == ("10.0.0.9", 2222)  # no Port anywhere: the images' sshd
    flagged = SshTransport(Settings(transport="ssh", ssh_port=22, ssh_config=(str(config),)))
    assert flagged.endpoint("hpc-cn-0") == ("hpc-cn-0", 22)


def test_a_hostfile_user_logs_in_over_ssh_and_names_no_other_pod(tmp_path) -> None:
    """`user@host` (PRRTE's hostfile syntax): that user, the host's own config otherwise."""
    from launchers.k8sgo.settings import Settings
    from launchers.k8sgo.transports.ssh import SshTransport

    config = tmp_path / "ssh_config"
    config.write_text("Host hpc-cn-*\n    Port 2200\n    User nobody\n")
    ssh = SshTransport(Settings(transport="ssh", ssh_config=(str(config),)))
    assert ssh.endpoint("mpiuser@hpc-cn-3") == ("hpc-cn-3", 2200)
    assert ssh._config("mpiuser@hpc-cn-3").get("User") == "mpiuser"
    assert ssh._config("hpc-cn-3").get("User") == "nobody"
    # the exec API has no user to choose: the pod is the host's
    assert resolve_all(["mpiuser@hpc-cn-0"], {"ns": [pod("hpc-cn-0", "10.0.0.1")]}, "ns") == [
        ("hpc-cn-0", "ns")]
