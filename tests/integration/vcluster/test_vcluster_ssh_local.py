"""The ssh variants' pieces together on the local cluster: the image's node entrypoint
starts the image's sshd_config with a deployment's Secret keys in a compute pod, and
the image's ssh client config reaches it from the login pod by its DNS name, checking
the host key against the Secret's known_hosts (an unknown or a wrong key is
refused).

The image paths (/opt/hpc/ssh/keys, the home directory) are rewritten to a directory
the pods can see; the files are otherwise the ones the images ship.
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from kube_pmix.vcluster.paths import images_dir, repo_root
from kube_pmix.vcluster.sshkeys import known_hosts_line, new_keypair, ssh_secret

pytestmark = pytest.mark.cluster

TARGET = "hpc-cn-0.hpc-cluster.kube-pmix"


@pytest.fixture
def ssh_tree() -> Iterator[Path]:
    """Keys and configs under build/ (pods have a private /tmp), removed afterwards."""
    if shutil.which("sshd", path="/usr/sbin:/usr/bin") is None or shutil.which("ssh") is None:
        pytest.skip("needs OpenSSH's sshd and ssh")
    try:
        user = pwd.getpwnam("mpiuser")
    except KeyError:
        pytest.skip("needs the local cluster's pod user mpiuser")
    (repo_root() / "build").mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="vc-ssh-", dir=repo_root() / "build"))
    try:
        root.chmod(0o755)
        keys, home = root / "keys", root / "home"
        keys.mkdir()
        home.mkdir()
        os.chown(home, user.pw_uid, user.pw_gid)
        # As a Secret volume with fsGroup: root-owned, group-readable.
        os.chown(keys, 0, user.pw_gid)
        for name, value in ssh_secret("kube-pmix")["data"].items():
            (keys / name).write_bytes(base64.b64decode(value))
            (keys / name).chmod(0o440)
            os.chown(keys / name, 0, user.pw_gid)

        def rewrite(text: str) -> str:
            return (text.replace("/opt/hpc/ssh/keys", str(keys))
                    .replace("/opt/hpc/ssh/sshd_config", str(root / "sshd_config"))
                    .replace("/home/mpiuser", str(home))
                    .replace("~/.ssh", str(home / ".ssh")))

        runtime = images_dir() / "runtime"
        for name in ("sshd_config", "ssh_config", "kube-pmix-node"):
            (root / name).write_text(rewrite((runtime / name).read_text()))
        (root / "kube-pmix-node").chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ssh(cluster: Any, root: Path, *extra: str) -> Any:
    # HOME is set in the command: the back door sets the passwd one.
    return cluster.pod_exec(cluster.login_pod, [
        "env", f"HOME={root / 'home'}", "ssh", "-F", str(root / "ssh_config"), *extra,
        TARGET, "hostname; id -un",
    ], timeout=60)


def test_login_pod_reaches_sshd_with_checked_host_key(cluster_factory: Any,
                                                      ssh_tree: Path) -> None:
    cluster = cluster_factory(nodes=1)
    home = ssh_tree / "home"
    started = cluster.pod_exec("hpc-cn-0", f"HOME={home} {ssh_tree}/kube-pmix-node sshd "
                                           f"> {home}/sshd.log 2>&1 & echo started")
    assert started.stdout.strip() == "started"
    # (The entrypoint copied the user key into HOME too; the client config points there.)
    try:
        for _ in range(100):  # sshd binds within a moment; bounded
            listening = cluster.pod_exec("hpc-cn-0", "ss -Hltn 'sport = :2222'")
            if listening.stdout.strip():
                break
            cluster.pod_exec("hpc-cn-0", "sleep 0.1")
        ok = _ssh(cluster, ssh_tree)
        assert ok.returncode == 0, ok.stderr + (home / "sshd.log").read_text()
        assert ok.stdout.split() == ["hpc-cn-0", "mpiuser"]
        # Host keys are checked: with no known host key ssh refuses to connect...
        refused = _ssh(cluster, ssh_tree, "-o", "UserKnownHostsFile=/dev/null")
        assert refused.returncode == 255
        assert "Host key verification failed" in refused.stderr
        # ...and with another key pinned for the pods' names too.
        impostor = new_keypair("not the pods' host key").public_openssh
        wrong = ssh_tree / "wrong_known_hosts"
        wrong.write_text(known_hosts_line(impostor, "kube-pmix"))
        wrong.chmod(0o644)
        refused = _ssh(cluster, ssh_tree, "-o", f"UserKnownHostsFile={wrong}")
        assert (refused.returncode, refused.stdout) == (255, ""), refused.stderr
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in refused.stderr
        assert "Host key verification failed" in refused.stderr
        # The copied keys have the modes ssh insists on.
        assert (home / ".ssh" / "id_ed25519").stat().st_mode & 0o777 == 0o600
    finally:
        cluster.pod_exec("hpc-cn-0", "pkill -u mpiuser -x sshd; true")
