"""Rendered manifests of every variant, rendered once per session with the real kubectl."""

from __future__ import annotations

import shutil

import pytest

from kube_pmix.vcluster.render import Manifest, RenderParams, render
from kube_pmix.vcluster.variants import VARIANTS


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[Manifest]]:
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl (its built-in kustomize renders the overlays)")
    return {name: render(RenderParams(name)) for name in VARIANTS}

