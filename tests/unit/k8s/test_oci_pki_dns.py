"""The OCI archive writer, the certificates, and the DNS probe's wire format."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import tarfile
from ipaddress import IPv4Address

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kube_pmix.k8s import oci, pki, probes


def test_oci_archive_is_content_addressed_and_names_the_image(tmp_path):
    binary = tmp_path / "pause"
    binary.write_bytes(b"\x7fELF pretend")
    archive = oci.image_archive("kube-pmix.local/pause:1", [oci.ImageFile("/pause", binary)],
                                ["/pause"], user="65532")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        blobs = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore
    for name, data in blobs.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    (entry,) = json.loads(blobs["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "kube-pmix.local/pause:1"
    manifest = json.loads(blobs["blobs/" + entry["digest"].replace(":", "/")])
    config = json.loads(blobs["blobs/" + manifest["config"]["digest"].replace(":", "/")])
    assert config["config"]["Entrypoint"] == ["/pause"] and config["config"]["User"] == "65532"
    (layer,) = manifest["layers"]
    with tarfile.open(fileobj=io.BytesIO(blobs["blobs/" + layer["digest"].replace(":", "/")])
                      ) as tar:
        (member,) = tar.getmembers()
        assert (member.name, member.mode) == ("pause", 0o755)
        assert tar.extractfile(member).read() == b"\x7fELF pretend"  # type: ignore[union-attr]
    # the same files give the same archive
    assert archive == oci.image_archive("kube-pmix.local/pause:1",
                                        [oci.ImageFile("/pause", binary)], ["/pause"],
                                        user="65532")


def _identity(cert: x509.Certificate) -> tuple[str, list[str]]:
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return str(cn), [str(o) for o in orgs]


def test_identities_are_the_ones_kubernetes_authorizes():
    ca = pki.Authority.new("t")
    leaves = {leaf.stem: leaf for leaf in pki.leaves(
        "t-node", IPv4Address("10.250.0.1"), IPv4Address("10.96.0.1"), "reg.example",
        "cluster.local")}
    certs = {stem: x509.load_pem_x509_certificate(ca.issue(leaf).cert)
             for stem, leaf in leaves.items()}
    assert _identity(certs["kubelet-client"]) == ("system:node:t-node", ["system:nodes"])
    assert _identity(certs["admin"])[1] == ["system:masters"]
    assert _identity(certs["controller-manager"]) == ("system:kube-controller-manager", [])
    assert _identity(certs["scheduler"]) == ("system:kube-scheduler", [])
    assert _identity(certs["kube-proxy"]) == ("system:kube-proxy", [])
    assert _identity(certs["restricted"]) == ("kube-pmix-restricted", [])
    sans = certs["apiserver"].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert IPv4Address("10.96.0.1") in sans.value.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc.cluster.local" in sans.value.get_values_for_type(x509.DNSName)
    usage = certs["apiserver"].extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    for cert in certs.values():
        cert.verify_directly_issued_by(ca.cert)


def test_dns_query_and_answer_count():
    query = probes.dns_query("kubernetes.default.svc.cluster.local", 0x1234)
    assert query[:2] == b"\x12\x34"
    assert b"\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00" in query
    reply = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 1, 0, 0)
    assert probes.dns_answers(reply, 0x1234) == (0, 1)
    nxdomain = struct.pack(">HHHHHH", 0x1234, 0x8183, 1, 0, 0, 0)
    assert probes.dns_answers(nxdomain, 0x1234) == (3, 0)
    with pytest.raises(ValueError):
        probes.dns_answers(reply, 0x4321)
