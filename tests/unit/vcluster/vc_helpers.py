"""Helpers over rendered manifests, shared by the vcluster tests."""

from __future__ import annotations

from kube_pmix.vcluster.render import Manifest


def find(objects: list[Manifest], kind: str) -> Manifest:
    matches = [o for o in objects if o["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, got {len(matches)}"
    return matches[0]


def pod_specs(objects: list[Manifest]) -> list[Manifest]:
    return [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("StatefulSet", "Job")]


def env_of(container: Manifest) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}
