"""The local cluster sizes the kernel's one neighbour table for all its pods, never lowering it."""

from __future__ import annotations

from pathlib import Path

from kube_pmix.local import neigh


def sysctls(tmp_path: Path, **values: int) -> Path:
    for name, value in values.items():
        (tmp_path / name).write_text(f"{value}\n")
    return tmp_path


def test_512_pods_need_more_than_the_kernels_default_hard_limit() -> None:
    """bench.scale overflowed the default 1024 entries at 512 pods."""
    need = neigh.thresholds(513)
    assert need["gc_thresh3"] > 4 * 513 and need["gc_thresh3"] > 1024
    assert need["gc_thresh2"] < need["gc_thresh3"]
    assert neigh.thresholds(1021)["gc_thresh3"] > need["gc_thresh3"]


def test_only_limits_below_the_need_are_raised(tmp_path: Path) -> None:
    root = sysctls(tmp_path, gc_thresh1=128, gc_thresh2=512, gc_thresh3=1024)
    written = neigh.raise_for(513, root)
    assert written == neigh.thresholds(513)
    assert neigh.read(root) == {"gc_thresh1": 128, **neigh.thresholds(513)}
    # a machine already set higher (or a larger cluster beside ours) keeps its limits
    (tmp_path / "high").mkdir()
    high = sysctls(tmp_path / "high", gc_thresh1=128, gc_thresh2=10**6, gc_thresh3=10**6)
    assert neigh.raise_for(513, high) == {}
    assert neigh.read(high)["gc_thresh3"] == 10**6
