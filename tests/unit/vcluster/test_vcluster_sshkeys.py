"""Per-deployment ssh keys: fresh each time, and usable by the real OpenSSH tools."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from kube_pmix.vcluster.sshkeys import host_patterns, ssh_secret


def _files(namespace: str) -> dict[str, str]:
    secret = ssh_secret(namespace)
    assert secret["metadata"] == {"name": "hpc-cluster-ssh", "namespace": namespace,
                                  "labels": {"app.kubernetes.io/part-of": "kube-pmix"}}
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_keys_are_fresh_per_deployment() -> None:
    a, b = _files("ns"), _files("ns")
    assert a["id_ed25519"] != b["id_ed25519"]
    assert a["ssh_host_ed25519_key"] != b["ssh_host_ed25519_key"]
    assert a["authorized_keys"] == a["id_ed25519.pub"]


def test_patterns_cover_every_name_of_a_compute_pod() -> None:
    assert host_patterns("ns") == ["hpc-cn-*", "hpc-cn-*.hpc-cluster", "hpc-cn-*.hpc-cluster.ns",
                                   "hpc-cn-*.hpc-cluster.ns.svc.*"]


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs OpenSSH's ssh-keygen")
def test_openssh_reads_the_keys_and_known_hosts(tmp_path: Path) -> None:
    files = _files("kube-pmix")
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        path.chmod(0o600)
    # The private keys parse and match their public halves.
    for key in ("id_ed25519", "ssh_host_ed25519_key"):
        pub = subprocess.run(["ssh-keygen", "-y", "-f", str(tmp_path / key)],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        assert pub.split()[:2] == files[f"{key}.pub"].split()[:2]
    # known_hosts pins the host key for the names ssh looks up (port 2222).
    host_blob = files["ssh_host_ed25519_key.pub"].split()[1]
    for host in ("[hpc-cn-0]:2222", "[hpc-cn-12.hpc-cluster.kube-pmix]:2222"):
        found = subprocess.run(["ssh-keygen", "-F", host, "-f", str(tmp_path / "known_hosts")],
                               capture_output=True, text=True, timeout=30, check=False)
        assert found.returncode == 0 and host_blob in found.stdout, host
    other = subprocess.run(["ssh-keygen", "-F", "[evil-0]:2222", "-f",
                            str(tmp_path / "known_hosts")],
                           capture_output=True, text=True, timeout=30, check=False)
    assert other.returncode != 0
