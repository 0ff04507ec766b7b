"""Rendered manifests of every variant, rendered once per session with the real kubectl."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kube_pmix.vcluster.render import Manifest, RenderParams, render
from kube_pmix.vcluster.variants import VARIANTS


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl (its built-in kustomize renders the overlays)")
    return {name: render(RenderParams(name)) for name in VARIANTS}



@pytest.fixture(autouse=True)
def no_build_record(tmp_path: Path, monkeypatch: Any) -> None:
    """The defaults of registry and tag, not what a `make images` of this checkout recorded."""
    monkeypatch.setenv("KUBE_PMIX_IMAGE_RECORD", str(tmp_path / "no-record.json"))
