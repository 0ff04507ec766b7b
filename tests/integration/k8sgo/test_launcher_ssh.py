"""k8sgo-launcher over ssh (asyncssh) to an OpenSSH sshd in every pod, run from the login pod."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

import pytest

from kube_pmix.vcluster.paths import repo_root
from kube_pmix.vcluster.sshkeys import known_hosts_line, new_keypair
from tests.fixtures.k8sgo import (
    FAST,
    LAUNCHER,
    STANDIN,
    expected_line,
    wait_nothing_left,
    write_hostfile,
)
from tests.fixtures.sshd import PodSshd, sshd_in_compute_pods

pytestmark = pytest.mark.cluster
LEFTOVER_WAIT = 20.0


@pytest.fixture(scope="module")
def sshd(k8sgo_cluster: Any) -> Iterator[PodSshd]:
    with sshd_in_compute_pods(k8sgo_cluster) as server:
        yield server


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the login pod can read (its /tmp is its own)."""
    import shutil
    import tempfile

    (repo_root() / "build").mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="k8sgo-", dir=repo_root() / "build"))
    path.chmod(0o777)  # the pod user writes the launcher's output here
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def ssh_launcher(cluster: Any, sshd: PodSshd, hostfile: str, argv: Sequence[str],
                 extra: Optional[Mapping[str, str]] = None) -> list[str]:
    """The launcher's argv in the login pod, as the pod user, over ssh."""
    env = {"HOME": str(sshd.home), "K8SGO_TRANSPORT": "ssh",
           "K8SGO_SSH_CONFIG": str(sshd.client_config),
           "K8SGO_GUARD": str(Path(LAUNCHER).with_name("kubexec-guard")), **FAST, **(extra or {})}
    return ["env", *(f"{k}={v}" for k, v in env.items()), LAUNCHER, "-f", hostfile, "--", *argv]


def test_order_and_ids_on_16_pods_over_ssh(k8sgo_cluster: Any, sshd: PodSshd,
                                          shared_dir: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    ns = k8sgo_cluster.namespace
    names = [p if i % 3 else f"{p}.hpc-cluster.{ns} slots=2" for i, p in enumerate(pods)]
    hostfile = write_hostfile(shared_dir, ["# ssh", *names])
    args = ["sleep:1", "a b", "q'uo\"te", ";", "$HOME", "exit:all:0"]
    done = k8sgo_cluster.pod_exec(k8sgo_cluster.login_pod,
                                  ssh_launcher(k8sgo_cluster, sshd, hostfile, [STANDIN, *args]),
                                  timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines(keepends=True)) == sorted(
        expected_line(pod, i, args) for i, pod in enumerate(pods))
    assert f"{len(pods)} daemons started over ssh" in done.stderr


@pytest.mark.parametrize("known", ["unknown", "wrong"])
def test_unchecked_host_key_is_refused(k8sgo_cluster: Any, sshd: PodSshd,
                                       shared_dir: Path, known: str) -> None:
    """No known key for the pod (known_hosts /dev/null), or another key pinned for its
    names: either way no daemon starts."""
    pod = k8sgo_cluster.compute_pods[0]
    hostfile = write_hostfile(shared_dir, [pod])
    known_hosts = "/dev/null"
    if known == "wrong":
        impostor = new_keypair("not the pods' host key").public_openssh
        (shared_dir / "known_hosts").write_text(
            known_hosts_line(impostor, k8sgo_cluster.namespace))
        (shared_dir / "known_hosts").chmod(0o644)
        known_hosts = str(shared_dir / "known_hosts")
    config = shared_dir / "ssh_config"
    config.write_text(sshd.client_config.read_text().replace(
        str(sshd.keys / "known_hosts"), known_hosts))
    assert known_hosts in config.read_text()
    config.chmod(0o644)
    # a daemon that exits at once: a launcher that connected anyway says so, and ends
    done = k8sgo_cluster.pod_exec(k8sgo_cluster.login_pod, ssh_launcher(
        k8sgo_cluster, sshd, hostfile, [STANDIN, "exit:all:0"],
        {"K8SGO_SSH_CONFIG": str(config)}), timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    assert f"k8sgo-launcher: {pod}: not started: " in done.stderr
    assert "host key not verifiable" in done.stderr


def test_cut_ssh_connection_reports_its_host_and_leaves_nothing(
        k8sgo_cluster: Any, sshd: PodSshd, shared_dir: Path) -> None:
    pods = k8sgo_cluster.compute_pods[:4]
    hostfile = write_hostfile(shared_dir, pods)
    out = shared_dir / "out"
    # In the background in the login pod; the back door returns at once.
    argv = ssh_launcher(k8sgo_cluster, sshd, hostfile, [STANDIN])
    script = shlex.join(argv)
    k8sgo_cluster.pod_exec(k8sgo_cluster.login_pod,
                           f"({script} > {out} 2> {out}.err; echo $? > {out}.rc) "
                           "</dev/null >/dev/null 2>&1 &")
    deadline = time.monotonic() + 60
    while (not out.exists() or len(out.read_text().splitlines()) < len(pods)):
        assert time.monotonic() < deadline, f"daemons did not come up: {list(shared_dir.iterdir())}"
        time.sleep(0.2)
    # End the sshd process serving pods[2]'s connection: the stream breaks under the launcher.
    k8sgo_cluster.pod_exec(pods[2], "pkill -u mpiuser -f '^sshd: mpiuser'; true")
    while not (shared_dir / "out.rc").exists():
        assert time.monotonic() < deadline + 30, "launcher did not exit"
        time.sleep(0.2)
    assert (shared_dir / "out.rc").read_text().strip() == "1"
    err = (shared_dir / "out.err").read_text()
    assert f"k8sgo-launcher: {pods[2]}: ssh session broke" in err, err
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)



@pytest.mark.parametrize("kind, says", [
    # asyncssh (2.24) skips an encrypted IdentityFile without its passphrase: no key left
    ("encrypted", "permission denied (no accepted key)"),
    # a key it cannot import at all raises its KeyImportError, a ValueError, no ssh error
    ("unreadable", "cannot use an ssh key ("),
])
def test_a_hosts_unusable_key_fails_that_host_and_ends_the_rest(
        k8sgo_cluster: Any, sshd: PodSshd, shared_dir: Path, kind: str, says: str) -> None:
    """The last host's only IdentityFile cannot be used. That host fails at once, one
    line, and the daemons already up on the others are ended: nothing waits, nothing
    is left."""
    pods = k8sgo_cluster.compute_pods[:4]
    hostfile = write_hostfile(shared_dir, pods)
    key = shared_dir / f"{kind}_ed25519"
    if kind == "encrypted":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-C", "test",
                        "-f", str(key)], check=True)
    else:
        key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\ntruncated\n")
    user = pwd.getpwnam("mpiuser")
    os.chown(key, user.pw_uid, user.pw_gid)
    key.chmod(0o600)
    general = sshd.client_config.read_text()
    own = re.sub(r"(?m)^(\s*IdentityFile\s+).*$", lambda m: f"{m.group(1)}{key}",
                 general.replace("Host hpc-cn-*", f"Host {pods[3]}"))
    config = shared_dir / "ssh_config"
    config.write_text(own + "\n" + general.replace("Host hpc-cn-*", f"Host hpc-cn-* !{pods[3]}"))
    config.chmod(0o644)
    done = k8sgo_cluster.pod_exec(k8sgo_cluster.login_pod, ssh_launcher(
        k8sgo_cluster, sshd, hostfile, [STANDIN], {"K8SGO_SSH_CONFIG": str(config)}),
        timeout=90)
    assert done.returncode == 1, done.stderr
    failed = [line for line in done.stderr.splitlines() if "not started" in line]
    assert len(failed) == 1, done.stderr
    assert failed[0].startswith(f"k8sgo-launcher: {pods[3]}: not started: ssh to {pods[3]}:2222: "
                                f"{says}"), done.stderr
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)
