"""Configuration files of the node's components, as text: pure functions of a `Plan`.

containerd (CRI, runc, the CNI bridge, our registry's CA), the kubelet
(cgroupfs under a cgroup root of the cluster's own, cluster DNS), kube-proxy
(iptables, inside the cluster's network namespace), the CNI network, the
registry, and the node's /etc/hosts and resolv.conf.
"""

from __future__ import annotations

import json

import yaml

from . import layout
from .plan import CNI_BIN_DIR, SYSTEM, Plan

SANDBOX_IMAGE = "kube-pmix.local/pause:1"
CNI_BRIDGE = "cni0"


def containerd_toml(plan: Plan) -> str:
    """containerd 2.x (config version 3). Root and state are the node's defaults, which the
    cluster's mount namespace backs with the state directory and a tmpfs."""
    cri_runtime = "plugins.'io.containerd.cri.v1.runtime'"
    cri_images = "plugins.'io.containerd.cri.v1.images'"
    return "\n".join([
        "version = 3",
        'root = "/var/lib/containerd"',
        'state = "/run/containerd"',
        # snapshotters that need kernel features or packages this node lacks, tracing, and
        # the plugins that would make folders outside the state (/opt/containerd, /run/nri)
        'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", '
        '"io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", '
        '"io.containerd.snapshotter.v1.blockfile", "io.containerd.tracing.processor.v1.otlp", '
        '"io.containerd.internal.v1.tracing", "io.containerd.internal.v1.opt", '
        '"io.containerd.nri.v1.nri"]',
        "",
        "[grpc]",
        f'  address = "{plan.state.containerd_socket}"',
        "",
        f"[{cri_runtime}]",
        "  enable_selinux = false",
        # root here lacks CAP_SYS_RESOURCE, so no process may lower its OOM score: clamp
        # the kubelet's negative scores (sandboxes -998, Guaranteed pods -997) to ours,
        # as rootless and user-namespaced nodes do
        "  restrict_oom_score_adj = true",
        # devices a device plugin hands out (/dev/fuse) belong to the container's user and
        # group, as the node's 0600 root-owned node would refuse the non-root pod user
        "  device_ownership_from_security_context = true",
        f"  [{cri_runtime}.containerd]",
        '    default_runtime_name = "runc"',
        f"    [{cri_runtime}.containerd.runtimes.runc]",
        '      runtime_type = "io.containerd.runc.v2"',
        f"      [{cri_runtime}.containerd.runtimes.runc.options]",
        f'        BinaryName = "{SYSTEM["runc"]}"',
        "        SystemdCgroup = false",
        f"  [{cri_runtime}.cni]",
        f'    bin_dirs = ["{CNI_BIN_DIR}"]',
        '    conf_dir = "/etc/cni/net.d"',
        "",
        f"[{cri_images}]",
        '  snapshotter = "overlayfs"',
        f"  [{cri_images}.pinned_images]",
        f'    sandbox = "{SANDBOX_IMAGE}"',
        f"  [{cri_images}.registry]",
        f'    config_path = "{plan.etc("certs.d")}"',
        "",
    ])


def registry_hosts_toml(plan: Plan) -> str:
    """certs.d/<registry>/hosts.toml: containerd pulls from our registry with our CA."""
    return (f'server = "https://{plan.registry_in_cluster}"\n\n'
            f'[host."https://{plan.registry_in_cluster}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
            f'  ca = "{plan.pki("ca")}"\n')


def kubelet_yaml(plan: Plan) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": plan.pki("ca")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": plan.pki("kubelet"),
        "tlsPrivateKeyFile": plan.pki("kubelet", "key"),
        "containerRuntimeEndpoint": f"unix://{plan.state.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        # every pod's cgroup sits under the cluster's own root, which `down` removes
        "cgroupRoot": plan.cgroup_root,
        # this machine has cgroup v1 (hybrid): kubelet 1.35 and later refuse it by default
        "failCgroupV1": False,
        "clusterDNS": [str(layout.DNS_SERVICE_IP)],
        "clusterDomain": layout.CLUSTER_DOMAIN,
        "resolvConf": plan.etc("resolv.conf"),
        "maxPods": plan.max_pods,
        "failSwapOn": False,
        "serializeImagePulls": False,
        # a shared test machine: evict only when really short, never for a full image cache
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "rotateCertificates": False,
        "oomScoreAdj": 0,  # -999 by default: not allowed without CAP_SYS_RESOURCE
        "serverTLSBootstrap": False,
        "staticPodPath": "",
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_yaml(plan: Plan) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(plan.state.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": str(layout.POD_CIDR),
        "hostnameOverride": plan.node,
        "bindAddress": str(layout.NODE_IP),
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "oomScoreAdj": 0,  # as the kubelet's
        # conntrack limits are per machine, not per namespace: leave this machine's alone
        "conntrack": {"maxPerCore": 0, "min": 0,
                      "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def cni_conflist() -> str:
    """A bridge with the pods' gateway, host-local addresses, and the loopback in each pod."""
    gateway = str(next(layout.POD_CIDR.hosts()))
    bridge = {
        "type": "bridge",
        "bridge": CNI_BRIDGE,
        "isGateway": True,
        "ipMasq": True,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": str(layout.POD_CIDR), "gateway": gateway}]],
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }
    doc = {"cniVersion": "1.0.0", "name": "kube-pmix",
           "plugins": [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}]}
    return json.dumps(doc, indent=2) + "\n"


def registry_yaml(plan: Plan) -> str:
    """Debian's docker-registry, on the node's address: pods and containerd pull there."""
    return (
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {plan.state.registry_data}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {layout.NODE_IP}:{layout.REGISTRY_PORT}\n"
        f"  tls:\n    certificate: {plan.pki('registry')}\n"
        f"    key: {plan.pki('registry', 'key')}\n"
    )


def node_hosts() -> str:
    """The node's /etc/hosts (inside its mount namespace): containerd resolves the registry."""
    return (f"127.0.0.1\tlocalhost\n{layout.NODE_IP}\t{layout.REGISTRY_NAME}\n")


def node_resolv_conf() -> str:
    """No upstream resolver: names outside the cluster do not resolve, and fail at once."""
    return "options ndots:5 timeout:1 attempts:1\n"
