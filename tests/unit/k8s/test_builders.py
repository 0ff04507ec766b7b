"""The real test bed's pure builders: argument lists and configuration files."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from kube_pmix.k8s import addons, components, layout, nodeconf
from kube_pmix.k8s.plan import Plan


def plan(tmp_path: Path) -> Plan:
    return Plan(name="t", state=layout.StateDir(tmp_path / "t"), bin_dir=Path("/opt/k8s/bin"),
                api_port=40001, registry_port=40002, max_pods=300)


def flag(argv: list[str], name: str) -> str:
    """The value of --name=V in argv (exactly one)."""
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def test_start_order_is_the_dependency_order():
    names = [c.name for c in components.ORDER]
    assert names == ["registry", "etcd", "kube-apiserver", "kube-controller-manager",
                     "kube-scheduler", "containerd", "kubelet", "kube-proxy"]


def test_every_binary_comes_from_the_build_or_the_system(tmp_path):
    p = plan(tmp_path)
    for component in components.ORDER:
        argv = component.argv(p)
        assert argv[0].startswith("/opt/k8s/bin/") or argv[0] == "/usr/bin/docker-registry"


def test_apiserver_authorizes_as_a_real_cluster_and_advertises_the_node(tmp_path):
    argv = components.kube_apiserver(plan(tmp_path))
    assert flag(argv, "authorization-mode") == "Node,RBAC"
    assert flag(argv, "advertise-address") == str(layout.NODE_IP)
    assert flag(argv, "service-cluster-ip-range") == str(layout.SERVICE_CIDR)
    assert "--enable-admission-plugins=NodeRestriction" in argv
    assert not any(a.startswith("--disable-admission-plugins") for a in argv)
    # etcd is reached on the cluster namespace's own loopback only
    assert flag(argv, "etcd-servers") == "http://127.0.0.1:2379"


def test_etcd_listens_on_loopback_only(tmp_path):
    argv = components.etcd(plan(tmp_path))
    urls = [argv[i + 1] for i, a in enumerate(argv) if a.startswith("--listen-")]
    assert urls and all(u.startswith("http://127.0.0.1:") for u in urls)


def test_controllers_and_scheduler_use_their_own_identities(tmp_path):
    p = plan(tmp_path)
    cm = components.kube_controller_manager(p)
    assert flag(cm, "kubeconfig").endswith("/controller-manager.kubeconfig")
    assert flag(cm, "use-service-account-credentials") == "true"
    sched = components.kube_scheduler(p)
    assert flag(sched, "kubeconfig").endswith("/scheduler.kubeconfig")


def test_kubelet_config(tmp_path):
    p = plan(tmp_path)
    config = yaml.safe_load(nodeconf.kubelet_yaml(p))
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupRoot"] == "/kube-pmix-k8s-t"
    assert config["failCgroupV1"] is False
    assert config["maxPods"] == 300
    assert config["clusterDNS"] == [str(layout.DNS_SERVICE_IP)]
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authorization"]["mode"] == "Webhook"
    assert config["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    argv = components.kubelet(p)
    assert flag(argv, "hostname-override") == "t-node"
    assert flag(argv, "node-ip") == str(layout.NODE_IP)


def test_containerd_uses_runc_cgroupfs_our_sandbox_and_our_registry_ca(tmp_path):
    import tomllib

    p = plan(tmp_path)
    config = tomllib.loads(nodeconf.containerd_toml(p))
    assert config["version"] == 3
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"BinaryName": "/usr/sbin/runc", "SystemdCgroup": False}
    assert runtime["cni"]["bin_dirs"] == ["/usr/lib/cni"]
    # a device plugin's /dev/fuse is the non-root pod user's (the -unpriv variants)
    assert runtime["device_ownership_from_security_context"] is True
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == nodeconf.SANDBOX_IMAGE
    hosts = tomllib.loads(nodeconf.registry_hosts_toml(p))
    host = hosts["host"][f"https://{layout.REGISTRY_NAME}:{layout.REGISTRY_PORT}"]
    assert host["ca"].endswith("/pki/ca.crt")


def test_cni_bridge_gives_pods_the_pod_range_with_a_gateway():
    doc = json.loads(nodeconf.cni_conflist())
    bridge = doc["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["isGateway"] is True
    (subnet,) = bridge["ipam"]["ranges"][0]
    assert subnet == {"subnet": str(layout.POD_CIDR), "gateway": "10.244.0.1"}


def test_kube_proxy_leaves_machine_wide_conntrack_alone(tmp_path):
    config = yaml.safe_load(nodeconf.kube_proxy_yaml(plan(tmp_path)))
    assert config["mode"] == "iptables"
    assert config["conntrack"]["maxPerCore"] == 0 and config["conntrack"]["min"] == 0
    assert config["clusterCIDR"] == str(layout.POD_CIDR)


def test_registry_listens_on_the_node_with_tls(tmp_path):
    config = yaml.safe_load(nodeconf.registry_yaml(plan(tmp_path)))
    assert config["http"]["addr"] == f"{layout.NODE_IP}:{layout.REGISTRY_PORT}"
    assert config["http"]["tls"]["certificate"].endswith("/pki/registry.crt")


def test_coredns_answers_cluster_names_and_the_registry_without_privileges():
    objs = {(o["kind"], o["metadata"]["name"]): o for o in addons.coredns()}
    service = objs[("Service", "kube-dns")]
    assert service["spec"]["clusterIP"] == str(layout.DNS_SERVICE_IP)
    assert {p["port"] for p in service["spec"]["ports"]} == {53}
    pod = objs[("Deployment", "coredns")]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    corefile = objs[("ConfigMap", "coredns")]["data"]["Corefile"]
    assert f"{layout.NODE_IP} {layout.REGISTRY_NAME}" in corefile
    assert "kubernetes cluster.local" in corefile
    assert "forward" not in corefile  # no network outside: unknown names fail at once


def test_restricted_user_may_read_pods_and_nothing_else():
    role = next(o for o in addons.restricted_user() if o["kind"] == "ClusterRole")
    (rule,) = role["rules"]
    assert set(rule["verbs"]) == {"get", "list", "watch"}
    assert "pods/exec" not in rule["resources"]
