"""Pods as namespaces: names, network, files, and what deleting one really removes."""

from __future__ import annotations

import os
import pwd
import subprocess
import time

import pytest

pytestmark = pytest.mark.cluster

TCP_ECHO = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 7777)); s.listen(1); print('listening', flush=True)\n"
    "c,_=s.accept(); c.sendall(socket.gethostname().encode()); c.close()\n"
)
TCP_CLIENT = (
    "import socket,sys\n"
    "c=socket.create_connection((sys.argv[1], 7777), timeout=10)\n"
    "print(c.recv(100).decode())\n"
)


def test_hostname_is_pod_name_everywhere(local_cluster):
    for pod in [*local_cluster.compute_pods, local_cluster.login_pod]:
        result = local_cluster.pod_exec(pod, ["hostname"])
        assert result.stdout.strip() == pod, result.stderr


def test_each_pod_has_own_tmp_network_and_pid_namespace(local_cluster):
    a, b = local_cluster.compute_pods[:2]
    local_cluster.pod_exec(a, "echo mine > /tmp/kp-marker")
    try:
        assert local_cluster.pod_exec(b, "cat /tmp/kp-marker").returncode != 0
        assert local_cluster.pod_exec(a, "cat /tmp/kp-marker").stdout == "mine\n"
    finally:
        local_cluster.pod_exec(a, "rm -f /tmp/kp-marker")
    addresses = local_cluster.pod_exec(a, ["ip", "-o", "-4", "addr", "show"]).stdout
    assert local_cluster.ip(a) in addresses and local_cluster.ip(b) not in addresses
    assert local_cluster.pod_exec(a, "cat /proc/1/cmdline").stdout.count("kube_pmix.local.pause")


def test_each_pod_has_its_own_podman_store_and_runtime_dir(local_cluster):
    """As each node of a real cluster: pods never share rootless podman's image store
    (its locks) nor its runtime dir (one pause process for all)."""
    from kube_pmix.local.users import podman_store

    store = podman_store(pwd.getpwnam("mpiuser"))
    pods = [*local_cluster.compute_pods, local_cluster.login_pod]
    seen = {"host": (os.stat(store).st_dev, os.stat(store).st_ino)}
    for pod in pods:
        out = local_cluster.pod_exec(pod, f'stat -c "%d %i" {store} /run/user/$(id -u)')
        assert out.returncode == 0, out.stderr
        seen[pod] = tuple(int(n) for n in out.stdout.split()[:2])
        runtime_dir = out.stdout.split()[2:]
        seen[f"{pod} run"] = (int(runtime_dir[0]), int(runtime_dir[1]))
    assert len(set(seen.values())) == len(seen), seen


def test_service_names_resolve_in_every_pod(local_cluster):
    target = local_cluster.compute_pods[3]
    for pod in (local_cluster.login_pod, local_cluster.compute_pods[0]):
        for name in (f"{target}.hpc-cluster.kube-pmix",
                     f"{target}.hpc-cluster.kube-pmix.svc.cluster.local", target):
            result = local_cluster.pod_exec(pod, ["getent", "hosts", name])
            assert result.stdout.split()[:1] == [local_cluster.ip(target)], (pod, name)


def test_hostfiles_list_compute_pods_in_order(local_cluster):
    result = local_cluster.pod_exec(local_cluster.login_pod,
                                    "cat $PRTE_MCA_prte_default_hostfile; echo --; "
                                    "cat /opt/hpc/etc/hostfile_ip")
    names, ips = result.stdout.split("--\n")
    assert names.split() == [f"{p}.hpc-cluster.kube-pmix" for p in local_cluster.compute_pods]
    assert ips.split() == [local_cluster.ip(p) for p in local_cluster.compute_pods]


def test_pod_to_pod_tcp_by_service_name(local_cluster):
    server_pod, client_pod = local_cluster.compute_pods[0], local_cluster.compute_pods[4]
    python = f"{local_cluster.venv}/bin/python"
    pause = local_cluster.pods()[server_pod]["pause_pid"]
    from kube_pmix.local.netns import pod_command

    argv = pod_command(pause, [python, "-c", TCP_ECHO], "/")
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                              env={"PATH": "/usr/bin:/bin"})
    try:
        assert server.stdout is not None and server.stdout.readline() == "listening\n"
        result = local_cluster.pod_exec(
            client_pod, [python, "-c", TCP_CLIENT, f"{server_pod}.hpc-cluster.kube-pmix"])
        assert result.stdout.strip() == server_pod, result.stderr
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_service_account_files_and_api_address(local_cluster):
    result = local_cluster.pod_exec(
        local_cluster.compute_pods[0],
        "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo; "
        "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT")
    namespace, address = result.stdout.split()
    assert namespace == "kube-pmix"
    host, port = address.split(":")
    assert port == "443" and host.startswith("10.244.")
    # the service address lives only inside namespaces the tool made, never on the host
    host_addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert host not in host_addresses


def test_delete_pod_kills_its_processes_and_network(cluster_factory):
    cluster = cluster_factory(nodes=2)
    victim, other = cluster.compute_pods
    background = cluster.pod_exec(victim, "sleep 300 >/dev/null 2>&1 & echo $!")
    assert background.returncode == 0
    pids = cluster.pod_pids(victim)
    assert len(pids) >= 2  # pause + sleep
    netns = os.readlink(f"/proc/{pids[0]}/ns/net")
    cluster.delete_pod(victim)
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
        time.sleep(0.05)
    assert alive == []
    holders = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == netns:
                    holders.append(entry)
            except OSError:
                pass
    assert holders == []
    links = subprocess.run(["ip", "-n", f"kp-{cluster.name}", "-o", "link", "show", "type", "veth"],
                           capture_output=True, text=True).stdout
    assert len(links.splitlines()) == 2  # the other compute pod and the login pod
    hosts = cluster.pod_exec(other, "cat /etc/hosts").stdout
    assert victim not in hosts and other in hosts
    assert victim not in cluster.pods()
