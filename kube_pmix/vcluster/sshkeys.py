"""Per-deployment ssh keys for the ssh variants, as a Secret manifest.

One host key shared by the compute pods and one user key, both fresh for every
deployment and never baked into an image. known_hosts pins the host key for the
compute pods' names (bare, pod.service, pod.service.namespace and the FQDN), so
ssh checks host keys instead of turning checking off as the paper did.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kube_pmix.vcluster import paths
from kube_pmix.vcluster.render import Manifest


@dataclass(frozen=True)
class KeyPair:
    private_openssh: str
    public_openssh: str


def new_keypair(comment: str) -> KeyPair:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    return KeyPair(private, f"{public} {comment}")


def host_patterns(namespace: str, service: str = paths.SERVICE) -> list[str]:
    """known_hosts patterns for every name a compute pod is reached by."""
    pod = f"{paths.STATEFULSET}-*"
    return [pod, f"{pod}.{service}", f"{pod}.{service}.{namespace}",
            f"{pod}.{service}.{namespace}.svc.*"]


def known_hosts_line(host_public: str, namespace: str) -> str:
    algo, blob = host_public.split()[:2]
    # Port 2222 (unprivileged sshd) is spelled [host]:2222 in known_hosts.
    names = ",".join(f"[{p}]:2222" for p in host_patterns(namespace))
    return f"{names} {algo} {blob}\n"


def ssh_secret(namespace: str) -> Manifest:
    """The Secret `hpc-cluster-ssh` with fresh keys for NAMESPACE's virtual cluster."""
    host = new_keypair(f"hpc-cn host key ({namespace})")
    user = new_keypair(f"{paths.USER}@{namespace}")
    data = {
        "ssh_host_ed25519_key": host.private_openssh,
        "ssh_host_ed25519_key.pub": host.public_openssh + "\n",
        "id_ed25519": user.private_openssh,
        "id_ed25519.pub": user.public_openssh + "\n",
        "authorized_keys": user.public_openssh + "\n",
        "known_hosts": known_hosts_line(host.public_openssh, namespace),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": paths.SSH_SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "kube-pmix"},
        },
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
