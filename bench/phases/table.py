"""An account as a markdown table and a few summary figures (pure)."""

from __future__ import annotations

from typing import Any, Optional

from bench.phases.account import Account, Spread


def _spread(s: Optional[Spread]) -> str:
    if s is None:
        return "-"
    return f"median {s.median:.3f} s, 90% {s.p90:.3f} s, max {s.maximum:.3f} s ({s.count})"


def markdown(acct: Account) -> str:
    lines = ["| milestone | phase (s) | since start (s) | known from |", "|---|---|---|---|"]
    what = {m.name: m.what for m in acct.milestones}
    for name, gap, since in acct.phases():
        lines.append(f"| {name} | {gap:.3f} | {since:.3f} | {what[name]} |")
    lines.append("")
    lines.append(f"per daemon, set-up (slot to open session): {_spread(acct.setup)}  ")
    lines.append(f"per daemon, start-up (open session to call back): {_spread(acct.startup)}  ")
    if acct.launcher:
        lines.append(f"launcher: {acct.launcher.get('cpu_s', '-')} s CPU, "
                     f"{acct.launcher.get('maxrss_mb', '-')} MB peak RSS  ")
    if acct.waited_for:
        lines.append(f"**{acct.waited_for}**")
    return "\n".join(lines) + "\n"


def summary(acct: Account) -> dict[str, Any]:
    """What a JSON result keeps of an account."""
    return {
        "total_s": acct.total, "status": acct.status, "stopped": acct.stopped,
        "daemons": acct.daemons, "waited_for": acct.waited_for,
        "phases": [{"milestone": n, "phase_s": round(g, 4), "since_start_s": round(s, 4)}
                   for n, g, s in acct.phases()],
        "setup": None if acct.setup is None else vars(acct.setup),
        "startup": None if acct.startup is None else vars(acct.startup),
        "launcher": acct.launcher, "children_cpu_s": acct.children_cpu_s,
    }
