"""Pure builders: argv lists, hosts files, environment, config, kubeconfig, TLS."""

from __future__ import annotations

import base64
import ipaddress
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from cryptography import x509

from kube_pmix.local import netns
from kube_pmix.local.config import ClusterConfig, pick_subnet_index
from kube_pmix.local.hostsfile import ordinal_key, render_hostfile, render_hosts
from kube_pmix.local.kubeconfig import build_kubeconfig
from kube_pmix.local.podenv import login_profile, pod_environment
from kube_pmix.local.tls import make_tls
from kube_pmix.local.users import unreachable_parent


def config(**kw) -> ClusterConfig:
    base = dict(name="t", nodes=2, subnet_index=8, idle_timeout=None, admin_token="a",
                sa_token="s", restricted_token="r", venv="/v", uid=1001, gid=1001,
                home="/home/u", user="u")
    base.update(kw)
    return ClusterConfig(**base)  # type: ignore[arg-type]


def test_pod_command_chain_without_shell_nor_environment():
    argv = netns.pod_command(42, ["hostname"], "/home/u", (1001, 1002))
    tool = netns.tool
    assert argv == [tool("nsenter"), "-t", "42", "-m", "-u", "-i", "-n", "-p", "--",
                    tool("setpriv"), "--reuid=1001", "--regid=1002", "--init-groups", "--",
                    tool("env"), "-C", "/home/u", "--", "hostname"]
    # the chain's tools do not depend on the pod's PATH
    assert all(word.startswith("/") for word in (argv[0], argv[9], argv[14]))


def test_pod_command_tty_and_root():
    argv = netns.pod_command(42, ["bash"], "/root", None, tty=True)
    assert argv[9:12] == [netns.tool("setsid"), "-w", "-c"]
    assert netns.tool("setpriv") not in argv


def test_network_batches():
    subnet = ipaddress.IPv4Network("10.244.7.0/24")
    assert "addr add 10.244.7.1/24 dev br0" in netns.bridge_batch(subnet[1], subnet)
    assert netns.veth_batch("veth3", 99).splitlines() == [
        "link add veth3 type veth peer name eth0 netns 99", "link set veth3 master br0 up"]
    assert "addr add 10.244.7.5/24 dev eth0" in netns.pod_net_batch(subnet[5], subnet)
    assert netns.ip_batch("kp-x") == ["ip", "-n", "kp-x", "-batch", "-"]


def test_hosts_lists_every_service_name():
    text = render_hosts([("hpc-cn-0", "10.244.7.2")])
    assert ("10.244.7.2\thpc-cn-0.hpc-cluster.kube-pmix.svc.cluster.local "
            "hpc-cn-0.hpc-cluster.kube-pmix hpc-cn-0.hpc-cluster hpc-cn-0\n") in text
    assert text.startswith("# ") and "127.0.0.1\tlocalhost" in text


def test_hostfile_in_ordinal_order():
    pods = sorted(["hpc-cn-10", "hpc-cn-2", "hpc-cn-0"], key=ordinal_key)
    assert render_hostfile(pods) == (
        "hpc-cn-0.hpc-cluster.kube-pmix\nhpc-cn-2.hpc-cluster.kube-pmix\n"
        "hpc-cn-10.hpc-cluster.kube-pmix\n")


def test_pod_environment():
    env = pod_environment(config(prrte="/b/prrte"), "hpc-cn-1", {"EXTRA": "x"})
    # one PRRTE: the one with plm/k8sgo, then the venv's tools
    assert env["PATH"].startswith("/b/prrte/bin:/v/bin:")
    assert env["PRTE_PREFIX"] == "/b/prrte"
    assert env["PRTE_MCA_plm_ssh_agent"] == "kubexec"
    assert env["PRTE_MCA_prte_default_hostfile"] == "/opt/hpc/etc/hostfile"
    assert env["HWLOC_PLUGINS_PATH"] == "/nonexistent/hwloc-plugins"  # as the images: none
    assert env["OMPI_MCA_mpi_yield_when_idle"] == "1"  # pods share the machine's cores
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("10.244.8.1", "443")
    assert (env["HOSTNAME"], env["HOME"], env["USER"], env["EXTRA"]) == (
        "hpc-cn-1", "/home/u", "u", "x")
    assert "TERM" not in env


def test_pod_environment_without_a_k8sgo_prrte_names_the_wheel_s():
    env = pod_environment(config(), "hpc-cn-1")
    assert env["PATH"].startswith("/v/bin:") and env["PRTE_PREFIX"] == "/v"


def test_login_profile_puts_the_bins_back_in_order():
    text = login_profile("PATH=/usr/bin\n", ["/opt/hpc/local/prrte/bin", "/v/bin"])
    assert text.startswith("PATH=/usr/bin\n")
    path = subprocess.run(["sh", "-c", text + 'echo "$PATH"'], capture_output=True, text=True,
                          env={"PATH": "/bin"}).stdout.strip()
    assert path == "/opt/hpc/local/prrte/bin:/v/bin:/usr/bin"


def test_subnet_index_is_stable_and_skips_taken():
    first = pick_subnet_index("kp-test", [])
    assert first == pick_subnet_index("kp-test", [])
    assert 4 <= first <= 252 and first % 4 == 0
    second = pick_subnet_index("kp-test", [first])
    assert second != first
    assert not config(subnet_index=first).subnet.overlaps(config(subnet_index=second).subnet)


def test_a_cluster_subnet_holds_the_benchmark_s_256_pods_and_more():
    subnet = config(subnet_index=pick_subnet_index("kp-bench", [])).subnet
    pods = subnet.num_addresses - 3  # network, broadcast, gateway
    assert pods >= 1000


def test_config_round_trip(tmp_path):
    path = tmp_path / "config.json"
    config(idle_timeout=2.5).save(path)
    assert ClusterConfig.load(path) == config(idle_timeout=2.5)
    assert path.stat().st_mode & 0o077 == 0


def test_kubeconfig_has_token_ca_and_namespace():
    doc = yaml.safe_load(build_kubeconfig("c", "https://127.0.0.1:1", b"PEM", "admin", "tok"))
    assert doc["users"][0]["user"]["token"] == "tok"
    assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]) == b"PEM"
    assert doc["contexts"][0]["context"]["namespace"] == "kube-pmix"
    assert doc["current-context"] == doc["contexts"][0]["name"]


def test_server_certificate_sans():
    tls = make_tls("t", [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv4Address("10.244.7.1")])
    cert = x509.load_pem_x509_certificate(tls.server_cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(map(str, sans.get_values_for_type(x509.IPAddress))) == {"127.0.0.1", "10.244.7.1"}
    assert "kubernetes.default.svc.cluster.local" in sans.get_values_for_type(x509.DNSName)
    ca = x509.load_pem_x509_certificate(tls.ca_cert_pem)
    assert cert.issuer == ca.subject


def test_unreachable_parent():
    base = Path(tempfile.mkdtemp())
    try:
        base.chmod(0o755)
        inner = base / "a" / "b"
        inner.mkdir(parents=True)
        assert unreachable_parent(inner / "bin") is None
        (base / "a").chmod(0o750)
        assert unreachable_parent(inner / "bin") == base / "a"
    finally:
        shutil.rmtree(base)
