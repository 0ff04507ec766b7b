"""The make targets of the image family: what `make images` needs, and for which engine."""

from __future__ import annotations

import subprocess

from kube_pmix.vcluster.paths import repo_root


def _plan(*args: str) -> str:
    done = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(repo_root()),
                           *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_images_need_the_prrte_source_not_a_host_build() -> None:
    plan = _plan("-W", "scripts/build-prrte-k8sgo.sh", "images")
    assert "build-prrte-k8sgo.sh 'build/prrte-k8sgo' plm_k8sgo fetch" in plan
    assert "kube-pmix images build" in plan


def test_docker_builds_need_no_podman_and_no_mmdebstrap() -> None:
    plan = _plan("images", "IMAGE_BUILD_CMD=docker build")
    assert "base-image.sh" not in plan and "podman" not in plan
    assert "--build-cmd 'docker build'" in plan
    assert "base-image.sh" in _plan("images")


def test_docker_reads_the_same_ignore_file_as_podman() -> None:
    def rules(name: str) -> list[str]:
        text = (repo_root() / name).read_text()
        return [line for line in text.splitlines() if line and not line.startswith("#")]

    assert rules(".dockerignore") == rules(".containerignore")
    assert "*" in rules(".dockerignore")  # the context is only what the images COPY


def test_push_and_deploy_targets_pass_the_push_address_and_need_the_venv() -> None:
    plan = _plan("-W", "pyproject.toml", "push-images",
                 "IMAGE_PUSH_REGISTRY=127.0.0.1:5999/kube-pmix")
    assert "--push-registry '127.0.0.1:5999/kube-pmix'" in plan
    assert "--registry" not in plan.split("images push")[1].split("\n")[0]  # the record's
    assert "pip install" in _plan("-W", "pyproject.toml", "deploy-kubectl")
