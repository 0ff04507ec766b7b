"""The local cluster's image registry: its configuration, how `down` finds it, the
name pods resolve, and the certificate the pods' podman trusts (pure parts)."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509

from kube_pmix.local import registry
from kube_pmix.local.hostsfile import render_hosts
from kube_pmix.local.tls import make_tls


def test_config_listens_on_loopback_only_with_tls(tmp_path: Path) -> None:
    text = registry.config_text(tmp_path / "data", 40123, tmp_path / "c.crt", tmp_path / "c.key")
    assert "  addr: 127.0.0.1:40123\n" in text
    assert f"    certificate: {tmp_path / 'c.crt'}\n" in text
    assert f"    rootdirectory: {tmp_path / 'data'}\n" in text
    assert "debug" not in text  # no second (debug) listener


def test_down_finds_the_registry_by_its_config_file(tmp_path: Path) -> None:
    config = tmp_path / "registry" / "config.yml"
    assert registry.is_registry_of(["/usr/bin/docker-registry", "serve", str(config)], config)
    other = tmp_path / "other" / "config.yml"
    assert not registry.is_registry_of(["/usr/bin/docker-registry", "serve", str(other)], config)
    assert not registry.is_registry_of(["/bin/sleep", "serve", str(config)], config)
    assert not registry.is_registry_of([], config)


def test_pods_resolve_the_registry_name() -> None:
    text = render_hosts([("hpc-cn-0", "10.244.8.2")], [("10.244.8.1", registry.NAME)])
    assert text.splitlines()[-1] == f"10.244.8.1\t{registry.NAME}"
    assert "hpc-cn-0.hpc-cluster" in text
    assert registry.NAME not in render_hosts([("hpc-cn-0", "10.244.8.2")])


def test_registry_certificate_names_the_registry_and_chains_to_the_ca() -> None:
    tls = make_tls("t", [IPv4Address("127.0.0.1"), IPv4Address("10.244.8.1")], [registry.NAME])
    cert = x509.load_pem_x509_certificate(tls.extra_cert_pem)
    ca = x509.load_pem_x509_certificate(tls.ca_cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == [registry.NAME]
    assert IPv4Address("10.244.8.1") in sans.get_values_for_type(x509.IPAddress)
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert make_tls("t", [IPv4Address("127.0.0.1")]).extra_cert_pem == b""
