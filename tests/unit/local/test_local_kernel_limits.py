"""The local cluster sizes the kernel limits its pods share, never lowering them."""

from __future__ import annotations

from pathlib import Path

from kube_pmix.local import kernel_limits as kl

THRESH3 = f"{kl.NEIGH}/gc_thresh3"


def sysctls(root: Path, values: dict[str, int]) -> Path:
    for name, value in values.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"{value}\n")
    return root


DEFAULTS = {f"{kl.NEIGH}/gc_thresh2": 512, THRESH3: 1024, kl.BACKLOG: 1000}


def test_the_sizes_that_failed_get_more_than_the_kernels_defaults() -> None:
    """bench.scale overflowed the neighbour table at 512 pods and the backlog at 1020."""
    at_512, at_1021 = kl.needed(513), kl.needed(1021)
    assert at_512[THRESH3] > 4 * 513 > DEFAULTS[THRESH3]
    assert at_512[f"{kl.NEIGH}/gc_thresh2"] < at_512[THRESH3]
    # one broadcast's copy per pod must fit, with room for the reply behind them
    assert at_1021[kl.BACKLOG] >= 2 * 1021 > DEFAULTS[kl.BACKLOG]


def test_only_limits_below_the_need_are_raised(tmp_path: Path) -> None:
    root = sysctls(tmp_path / "default", DEFAULTS)
    assert kl.raise_for(1021, root) == kl.needed(1021)
    assert kl.read(list(DEFAULTS), root) == kl.needed(1021)
    # a machine already set higher (or a larger cluster beside ours) keeps its limits
    high = sysctls(tmp_path / "high", {**DEFAULTS, THRESH3: 10**6})
    written = kl.raise_for(1021, high)
    assert THRESH3 not in written and kl.read([THRESH3], high)[THRESH3] == 10**6
    assert written[kl.BACKLOG] == kl.needed(1021)[kl.BACKLOG]


def test_a_demo_sized_cluster_changes_nothing_on_a_default_machine(tmp_path: Path) -> None:
    root = sysctls(tmp_path, DEFAULTS)
    assert kl.raise_for(5, root) == {}
    assert kl.read(list(DEFAULTS), root) == DEFAULTS
