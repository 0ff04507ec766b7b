"""What a build records, and what a later push or deploy takes from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kube_pmix.cli import main
from kube_pmix.vcluster import images as ki
from kube_pmix.vcluster import record as kr


@pytest.fixture
def record_file(tmp_path: Path, monkeypatch: Any) -> Path:
    path = tmp_path / "record.json"
    monkeypatch.setenv("KUBE_PMIX_IMAGE_RECORD", str(path))
    for var in ("IMAGE_REGISTRY", "IMAGE_TAG_NAME", "IMAGE_PUSH_REGISTRY"):
        monkeypatch.delenv(var, raising=False)
    return path


def _pushed(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("podman push")]


def test_push_takes_what_the_last_build_made_not_what_it_skipped(record_file: Path) -> None:
    kr.save(kr.Record("reg.example/hpc", "9", ["waitfor", "pmix-base", "mpi"]))
    result = CliRunner().invoke(main, ["images", "push", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert _pushed(result.output) == [f"podman push reg.example/hpc/k8s-{n}:9"
                                      for n in ("waitfor", "pmix-base", "mpi")]


def test_without_a_record_push_leaves_out_images_that_need_sources(record_file: Path) -> None:
    result = CliRunner().invoke(main, ["images", "push", "--dry-run", "--registry", "r"])
    assert result.exit_code == 0, result.output
    pushed = _pushed(result.output)
    assert len(pushed) == 8 and not [p for p in pushed if "nas" in p]
    assert "no build of r tag 0.1.0 recorded" in result.output


def test_push_to_another_address_than_the_images_are_named_for(record_file: Path) -> None:
    kr.save(kr.Record("registry.kube-pmix.local:5000/kube-pmix", "ci", ["mpi"]))
    result = CliRunner().invoke(main, ["images", "push", "--dry-run", "--push-registry",
                                       "127.0.0.1:5999/kube-pmix", "--push-cmd",
                                       "podman push --cert-dir /tmp/c"])
    assert result.exit_code == 0, result.output
    assert _pushed(result.output) == [
        "podman push --cert-dir /tmp/c registry.kube-pmix.local:5000/kube-pmix/k8s-mpi:ci "
        "127.0.0.1:5999/kube-pmix/k8s-mpi:ci"]
    assert ki.push_argv(ki.image("mpi"), "r", "t", push_registry="r/") == [
        "podman", "push", "r/k8s-mpi:t"]


def test_a_build_records_and_adds_to_the_record(record_file: Path) -> None:
    kr.save(kr.Record("r", "t", ["waitfor"]))
    kr.save(kr.Record("r", "t", ["mpi"]), kr.load())
    assert kr.load() == kr.Record("r", "t", ["waitfor", "mpi"])
    kr.save(kr.Record("r2", "t", ["runtime"]), kr.load())  # another registry starts over
    assert kr.load() == kr.Record("r2", "t", ["runtime"])


def test_render_and_deploy_take_the_recorded_registry_and_tag(record_file: Path) -> None:
    kr.save(kr.Record("reg.example/hpc", "b7", ["runtime"]))
    result = CliRunner().invoke(main, ["render", "kubectl"])
    assert result.exit_code == 0, result.output
    assert "image: reg.example/hpc/k8s-runtime:b7" in result.output
    given = CliRunner().invoke(main, ["render", "kubectl", "--tag", "x"])
    assert "image: reg.example/hpc/k8s-runtime:x" in given.output
    assert kr.choose(None, None, "d") == "d" and kr.choose("", "r", "d") == "r"
