"""The certificates and keys of a real-Kubernetes test bed: one CA, one leaf per identity.

Kubernetes authenticates components by their client certificate: the common
name is the user and the organisations are the groups (`system:masters`,
`system:nodes`). EC P-256 keys, made in microseconds; the CA's key is kept in the
state directory because the apiserver signs nothing with it, but tests may mint
a user of their own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_PEM = serialization.Encoding.PEM
_VALID = datetime.timedelta(days=365)


@dataclass(frozen=True)
class Leaf:
    """One identity: a file stem, the certificate's subject and what it may be used for."""

    stem: str
    common_name: str
    groups: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[IPv4Address, ...] = ()
    server: bool = False
    client: bool = False


@dataclass
class Pem:
    cert: bytes
    key: bytes


@dataclass
class Authority:
    """A CA able to sign leaves; `load` it back from the state directory."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    issued: dict[str, Pem] = field(default_factory=dict)

    @classmethod
    def new(cls, cluster: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(f"kube-pmix k8s CA ({cluster})")
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, pki: Path) -> Authority:
        key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(key, x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes()))

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(_PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self.key)

    def issue(self, leaf: Leaf) -> Pem:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in leaf.groups]
        subject.append(x509.NameAttribute(NameOID.COMMON_NAME, leaf.common_name))
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if leaf.server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if leaf.client else [])
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + _VALID)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in leaf.dns]
        sans += [x509.IPAddress(ip) for ip in leaf.ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        pem = Pem(builder.sign(self.key, hashes.SHA256()).public_bytes(_PEM), _key_pem(key))
        self.issued[leaf.stem] = pem
        return pem


def service_account_keys() -> Pem:
    """The key pair that signs and checks service-account tokens (`cert` holds the public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(_PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Pem(public, _key_pem(key))


def leaves(node: str, node_ip: IPv4Address, api_service_ip: IPv4Address,
           registry_name: str, domain: str) -> Sequence[Leaf]:
    """Every identity of a one-node cluster, as kubeadm names them."""
    loopback = IPv4Address("127.0.0.1")
    api_names = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                 f"kubernetes.default.svc.{domain}", "localhost")
    return (
        Leaf("apiserver", "kube-apiserver", dns=api_names,
             ips=(api_service_ip, node_ip, loopback), server=True),
        Leaf("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
             groups=("system:masters",), client=True),
        Leaf("admin", "kube-pmix-admin", groups=("system:masters",), client=True),
        Leaf("controller-manager", "system:kube-controller-manager", client=True),
        Leaf("scheduler", "system:kube-scheduler", client=True),
        Leaf("kube-proxy", "system:kube-proxy", client=True),
        Leaf("kubelet-client", f"system:node:{node}", groups=("system:nodes",), client=True),
        Leaf("kubelet", node, dns=(node,), ips=(node_ip,), server=True),
        Leaf("restricted", "kube-pmix-restricted", client=True),
        Leaf("registry", registry_name, dns=(registry_name, "localhost"),
             ips=(node_ip, loopback), server=True),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, key_cert_sign=cert_sign, crl_sign=cert_sign,
        content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, encipher_only=False, decipher_only=False,
    )
