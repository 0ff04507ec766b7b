"""SSL contexts kept by a control master (exec.config.keep_contexts): reused, and renewed
when a certificate file changes; a direct kubexec keeps none."""

from __future__ import annotations

import os
from ipaddress import IPv4Address

from kube_pmix.local.tls import make_tls
from launchers.exec import config


def _config(ca_file: str) -> config.ClusterConfig:
    return config.ClusterConfig(server="https://127.0.0.1:6443", token="t", ca_file=ca_file)


def test_direct_calls_keep_no_context(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_contexts", None)
    ca = tmp_path / "ca.crt"
    ca.write_bytes(make_tls("a", [IPv4Address("127.0.0.1")]).ca_cert_pem)
    cfg = _config(str(ca))
    assert cfg.ssl_context() is not cfg.ssl_context()


def test_kept_context_is_reused_until_the_ca_file_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "_contexts", None)
    config.keep_contexts()
    ca = tmp_path / "ca.crt"
    ca.write_bytes(make_tls("a", [IPv4Address("127.0.0.1")]).ca_cert_pem)
    cfg = _config(str(ca))
    first = cfg.ssl_context()
    assert cfg.ssl_context() is first and _config(str(ca)).ssl_context() is first
    ca.write_bytes(make_tls("b", [IPv4Address("127.0.0.1")]).ca_cert_pem)  # rotated
    stat = ca.stat()
    os.utime(ca, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cfg.ssl_context() is not first
