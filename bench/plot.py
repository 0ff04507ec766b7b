"""A benchmark's figure beside its JSON: time (or any figure) against N, one line per method."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional


def against_n(series: Mapping[str, Mapping[int, float]], path: Path, *, title: str,
              ylabel: str, note: str = "", log_y: bool = True) -> Optional[Path]:
    """Write `series` (method -> {N: value}) as a PNG at `path`; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    drawn = {name: sorted(n for n, v in by_n.items() if v == v)  # NaN: not run at N
             for name, by_n in series.items()}
    if not any(drawn.values()):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, ns in drawn.items():
        if ns:
            ax.plot(ns, [series[name][n] for n in ns], marker="o", label=name)
    ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("pods (N)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, alpha=0.7)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout(rect=(0, 0.03, 1, 1) if note else (0, 0, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
