"""Everything `up` writes before it starts the daemon: certificates, kubeconfigs,
configuration files and the node's own images, all inside the state directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from kube_pmix.local.private import make_private_dir, write_private

from . import addons, kubeconfigs, layout, nodeconf, oci, pki
from .plan import Plan

# kubeconfig name -> (certificate stem, server: "here" or "in-cluster")
KUBECONFIGS = {
    "admin": ("admin", "here"),
    "restricted": ("restricted", "here"),
    "admin-in-cluster": ("admin", "in-cluster"),
    "controller-manager": ("controller-manager", "in-cluster"),
    "scheduler": ("scheduler", "in-cluster"),
    "kube-proxy": ("kube-proxy", "in-cluster"),
    "kubelet": ("kubelet-client", "in-cluster"),
}
PAUSE_IMAGE = nodeconf.SANDBOX_IMAGE


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_dirs(state: layout.StateDir) -> None:
    make_private_dir(state.root)
    for private in (state.pki, state.kubeconfigs, state.etcd_data):
        make_private_dir(private)
    for folder in (state.etc, state.logs, state.images, state.registry_data):
        folder.mkdir()


def write_pki(plan: Plan) -> pki.Authority:
    state = plan.state
    ca = pki.Authority.new(plan.name)
    write_private(state.pki / "ca.crt", ca.cert_pem)
    write_private(state.pki / "ca.key", ca.key_pem)
    for leaf in pki.leaves(plan.node, layout.NODE_IP, layout.API_SERVICE_IP,
                           layout.REGISTRY_NAME, layout.CLUSTER_DOMAIN):
        pem = ca.issue(leaf)
        write_private(state.pki / f"{leaf.stem}.crt", pem.cert)
        write_private(state.pki / f"{leaf.stem}.key", pem.key)
    sa = pki.service_account_keys()
    write_private(state.pki / "sa.pub", sa.cert)
    write_private(state.pki / "sa.key", sa.key)
    # the CA is public: readable by whoever needs to trust the API server or the registry
    os.chmod(state.pki, 0o755)
    os.chmod(state.pki / "ca.crt", 0o644)
    return ca


def write_kubeconfigs(plan: Plan, ca: pki.Authority) -> None:
    servers = {"here": plan.api_here, "in-cluster": plan.api_in_cluster}
    for name, (stem, where) in KUBECONFIGS.items():
        pem = ca.issued[stem]
        text = kubeconfigs.build(f"kube-pmix-k8s-{plan.name}", servers[where], ca.cert_pem,
                                 stem, pem.cert, pem.key,
                                 namespace=None if where == "in-cluster" else
                                 kubeconfigs.NAMESPACE)
        write_private(plan.state.kubeconfig(name), text)


def write_configs(plan: Plan) -> None:
    etc = plan.state.etc
    _write(etc / "containerd.toml", nodeconf.containerd_toml(plan))
    _write(etc / "certs.d" / plan.registry_in_cluster / "hosts.toml",
           nodeconf.registry_hosts_toml(plan))
    _write(etc / "kubelet.yaml", nodeconf.kubelet_yaml(plan))
    _write(etc / "kube-proxy.yaml", nodeconf.kube_proxy_yaml(plan))
    _write(etc / "registry.yaml", nodeconf.registry_yaml(plan))
    _write(etc / "hosts", nodeconf.node_hosts())
    _write(etc / "resolv.conf", nodeconf.node_resolv_conf())
    _write(etc / "addons.yaml", yaml.safe_dump_all(addons.all_objects(), sort_keys=False))
    _write(plan.state.node_dir("cni/net.d") / "10-kube-pmix.conflist", nodeconf.cni_conflist())


def write_images(plan: Plan) -> None:
    images = plan.state.images
    pause = oci.image_archive(PAUSE_IMAGE, [oci.ImageFile("/pause", plan.bin_dir / "pause")],
                              ["/pause"])
    (images / "pause.tar").write_bytes(pause)
    coredns = oci.image_archive(
        addons.COREDNS_IMAGE, [oci.ImageFile("/coredns", plan.bin_dir / "coredns")],
        ["/coredns"], user=str(addons.COREDNS_UID))
    (images / "coredns.tar").write_bytes(coredns)


def prepare(plan: Plan, extra: dict[str, object]) -> None:
    make_dirs(plan.state)
    ca = write_pki(plan)
    write_kubeconfigs(plan, ca)
    write_configs(plan)
    write_images(plan)
    plan.state.config.write_text(json.dumps({**plan.to_json(), **extra}, indent=1))
