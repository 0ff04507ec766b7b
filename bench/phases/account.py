"""Where the seconds of one `prterun` through plm/k8sgo went, from its stamped records (pure).

The records are what bench.phases.stamp writes: the job's stdout/stderr lines
stamped at arrival, the launcher's trace (launchers.k8sgo.trace) and a meta
record. With `PRTE_MCA_plm_base_verbose=5` and `PRTE_MCA_state_base_verbose=1`,
prterun says when it forked the launcher and which daemon called back when, and
every PRRTE process stamps its state changes with its own clock.

`account()` turns them into milestones (each the moment something was reached:
launcher forked, its code loaded, pods resolved, first and last session open,
all daemons called back, launch message sent, ranks running, job ended, daemons
gone, launcher ended, prterun exited), in the order they happened; the phases
are the gaps between consecutive milestones, so they add up to the whole run.
Per daemon: set-up (slot to open session) and start-up (open session to its
call back). And `waited_for()` says, for a run that failed or was stopped,
which milestone it was waiting for and on which hosts.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

LAUNCHER_FORKED = re.compile(r"plm:k8sgo: (\d+) daemon\(s\) from vpid (\d+)")
HOSTS = re.compile(r"plm:k8sgo: hosts (\S+)")
REPORTED = re.compile(r"orted_report_launch from daemon \[[^,\]]+,(\d+)\] on node (\S+)")
# [host:pid] [job@0,VPID] [EPOCH] ACTIVATING JOB JOBID STATE NAME
STATE = re.compile(r"\[[^\]]*@0,(\d+)\] \[(\d+\.\d+)\] ACTIVATING (JOB|PROC) (\S+) STATE (.+?)\s*$")
TERMINAL = ("NORMALLY TERMINATED", "ABORTED", "KILLED BY CMD", "FAILED TO START",
            "FAILED TO LAUNCH", "ABORTED BY SIGNAL", "TERMINATED")


@dataclass
class Milestone:
    name: str
    t: float  # wall clock
    what: str = ""  # how it is known


@dataclass
class Spread:
    """A per-daemon duration over all daemons that have both ends, in seconds."""

    count: int
    median: float
    p90: float
    maximum: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Optional[Spread]:
        if not values:
            return None
        ordered = sorted(values)
        return cls(len(ordered), statistics.median(ordered),
                   ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], ordered[-1])


@dataclass
class Account:
    started: float
    ended: Optional[float]
    status: Optional[int]
    stopped: str
    daemons: int
    hosts: list[str]
    milestones: list[Milestone]
    setup: Optional[Spread]        # set-up slot -> session open
    startup: Optional[Spread]      # session open -> call back to prterun
    launcher: dict[str, Any] = field(default_factory=dict)  # its END record: cpu_s, maxrss_mb
    children_cpu_s: Optional[float] = None  # prterun + launcher (what the stamp reaped)
    waited_for: str = ""

    @property
    def total(self) -> Optional[float]:
        return None if self.ended is None else self.ended - self.started

    def phases(self) -> list[tuple[str, float, float]]:
        """(milestone, seconds since the previous one, seconds since the start)."""
        out, previous = [], self.started
        for m in self.milestones:
            out.append((m.name, m.t - previous, m.t - self.started))
            previous = m.t
        return out


def _by_source(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {"out": [], "err": [], "trace": [], "meta": []}
    for r in records:
        grouped.setdefault(str(r.get("src")), []).append(r)
    return grouped


def account(records: Iterable[dict[str, Any]], hosts: Sequence[str] = ()) -> Account:
    """The account of one run (see the module's docstring). `hosts`: the hostfile's lines,
    for naming daemons when prterun was not verbose (it says them itself when it is)."""
    src = _by_source(records)
    meta = src["meta"][-1] if src["meta"] else {}
    started = float(meta.get("started") or min(
        (r["t"] for r in src["err"] + src["out"] + src["trace"] if "t" in r), default=0.0))
    milestones: list[Milestone] = []

    def mark(name: str, t: Optional[float], what: str) -> None:
        if t is not None:
            milestones.append(Milestone(name, t, what))

    daemons, first_vpid = 0, 1
    said_hosts: list[str] = []
    reported: dict[int, float] = {}
    hnp_states: dict[str, float] = {}  # first time the HNP entered each job state
    ranks_running: list[float] = []  # daemons' own stamps of their ranks' RUNNING
    forked = None
    for r in src["err"]:
        line = r["line"]
        found = LAUNCHER_FORKED.search(line)
        if found and forked is None:
            forked, daemons, first_vpid = r["t"], int(found.group(1)), int(found.group(2))
            continue
        found = HOSTS.search(line)
        if found and not said_hosts:
            said_hosts = found.group(1).split(",")
            continue
        found = REPORTED.search(line)
        if found:
            reported.setdefault(int(found.group(1)), r["t"])
            continue
        found = STATE.search(line)
        if found:
            vpid, stamp, kind, _job, state = found.groups()
            if kind == "JOB" and vpid == "0":
                hnp_states.setdefault(state, float(stamp))
            elif kind == "PROC" and vpid != "0" and state == "RUNNING":
                ranks_running.append(float(stamp))

    trace = src["trace"]

    def first(event: str) -> Optional[float]:
        return next((float(e["t"]) for e in trace if e.get("ev") == event), None)

    opened = {int(e["i"]): float(e["t"]) for e in trace if e.get("ev") == "open"}
    setups = {int(e["i"]): float(e["t"]) for e in trace if e.get("ev") == "setup"}
    # the last END: with workers each ends with its own, then the parent with all of theirs
    end = next((e for e in reversed(trace) if e.get("ev") == "end"), None)
    prepared = next((e for e in trace if e.get("ev") == "prepared"), {})
    daemons = daemons or int(prepared.get("hosts", 0)) or len(setups)
    verbose = forked is not None or bool(hnp_states) or any(
        "plm:base:" in r["line"] for r in src["err"])

    mark("launcher forked", forked, "prterun: plm:k8sgo line")
    mark("launcher's code loaded", first("imported"), "launcher trace")
    mark("pods resolved", first("prepared"), "launcher trace: one pod list")
    if opened:
        mark("first daemon's session open", min(opened.values()), "launcher trace")
        mark(f"all {len(opened)} sessions open", max(opened.values()), "launcher trace")
    if reported:
        mark("first daemon called back", min(reported.values()), "prterun: report_launch")
    mark("all daemons called back", hnp_states.get("ALL DAEMONS REPORTED"),
         "prterun: state ALL DAEMONS REPORTED")
    mark("launch message sent", hnp_states.get("SENDING LAUNCH MSG"), "prterun state")
    if ranks_running:
        mark("first rank running", min(ranks_running), "a daemon's own state stamp")
    mark("all ranks running", hnp_states.get("RUNNING"), "prterun state RUNNING")
    outs = [r["t"] for r in src["out"]]
    if outs:
        mark("last output line", max(outs), "stdout arrival")
    ended_state = next((hnp_states[s] for s in TERMINAL if s in hnp_states), None)
    mark("job ended", ended_state, "prterun state (terminal)")
    mark("daemons gone", hnp_states.get("DAEMONS TERMINATED"), "prterun state")
    mark("launcher ended", None if end is None else float(end["t"]), "launcher trace")
    mark("prterun exited", meta.get("t"), "stamp: exit")
    milestones.sort(key=lambda m: m.t)

    result = Account(
        started=started, ended=meta.get("t"), status=meta.get("status"),
        stopped=str(meta.get("stopped") or ""), daemons=daemons,
        hosts=said_hosts or list(hosts),
        milestones=milestones,
        setup=Spread.of([opened[i] - setups[i] for i in opened if i in setups]),
        startup=Spread.of([reported[i + first_vpid] - t for i, t in opened.items()
                           if i + first_vpid in reported]),
        launcher={k: v for k, v in (end or {}).items() if k not in ("t", "ev", "src")},
        children_cpu_s=meta.get("children_cpu_s"),
    )
    result.waited_for = waited_for(result, setups, opened, reported, first_vpid, trace, verbose)
    return result


def _names(indices: Iterable[int], hosts: Sequence[str], limit: int = 8) -> str:
    shown = [hosts[i] if 0 <= i < len(hosts) else f"#{i}" for i in sorted(indices)]
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def waited_for(acct: Account, setups: dict[int, float], opened: dict[int, float],
               reported: dict[int, float], first_vpid: int,
               trace: Sequence[dict[str, Any]], verbose: bool = True) -> str:
    """For a run that did not end well: the milestone it was waiting for, and on whom.

    Without prterun's verbose lines only the launcher's trace speaks: up to the
    sessions, and whether every daemon's session ended."""
    if acct.status == 0 and not acct.stopped:
        return ""
    reached = {m.name for m in acct.milestones}
    n, hosts = acct.daemons, acct.hosts
    failed = {int(e["i"]): str(e.get("why", "")) for e in trace if e.get("ev") == "failed"}
    if not verbose and not trace:
        return ("no launcher trace and prterun not verbose: set PRTE_MCA_plm_base_verbose=5 "
                "and K8SGO_TRACE to see what it waited for")
    if verbose and "launcher forked" not in reached:
        return "waiting for prterun to fork the launcher (no plm:k8sgo line)"
    if "launcher's code loaded" not in reached:
        return "waiting for the launcher to start (no trace: not started, or no K8SGO_TRACE)"
    if "pods resolved" not in reached:
        return "waiting for the launcher's pod list from the API server"
    if len(opened) < n:
        never = set(range(n)) - set(opened)
        queued = never - set(setups)
        text = (f"waiting for exec sessions: {len(opened)} of {n} open; not open: "
                f"{_names(never, hosts)}")
        if queued:
            text += f" ({len(queued)} still waiting for a set-up slot)"
        if failed:
            i, why = sorted(failed.items())[0]
            text += f"; {len(failed)} failed, first {_names([i], hosts)}: {why}"
        return text
    exited = {int(e["i"]) for e in trace if e.get("ev") == "exit"}
    if not verbose:
        left = set(opened) - exited - set(failed)
        if "launcher ended" in reached:
            return (f"every session opened and ended; exit status {acct.status}"
                    + first_fault(trace, hosts))
        return (f"every session open; {len(left)} without an exit status (prterun not "
                "verbose: PRTE_MCA_plm_base_verbose=5 says which daemons called back)")
    if "all daemons called back" not in reached:
        missing = {i for i in opened if i + first_vpid not in reported}
        return (f"waiting for daemons to call back: {len(reported)} of {n}; missing: "
                f"{_names(missing, hosts)}")
    if "all ranks running" not in reached:
        return "waiting for the ranks to start (every daemon had called back)"
    if "job ended" not in reached:
        return "waiting for the job's ranks to end"
    if "daemons gone" not in reached:
        return "waiting for the daemons to exit after the job"
    if "launcher ended" not in reached:
        left = set(opened) - exited - set(failed)
        return (f"waiting for the launcher: {len(left)} sessions without an exit status: "
                f"{_names(left, hosts)}")
    return f"every milestone reached; exit status {acct.status}" + first_fault(trace, hosts)


def first_fault(trace: Sequence[dict[str, Any]], hosts: Sequence[str]) -> str:
    """Why the launcher ended the daemons, and the first daemon that failed or exited
    non-zero, in time order: what a run that got everywhere and still failed went wrong on
    ("" when the trace shows neither)."""
    said = ""
    stop = next((e for e in trace if e.get("ev") == "stop"), None)
    if stop is not None and stop.get("reason") != "caller":
        said += f"; the launcher ended the daemons ({stop.get('reason')})"
    faults = [e for e in trace if e.get("ev") == "failed"
              or (e.get("ev") == "exit" and e.get("status") != 0)]
    if faults:
        e = min(faults, key=lambda f: float(f["t"]))
        why = e.get("why") if e["ev"] == "failed" else f"exit status {e.get('status')}"
        said += f"; first: {_names([int(e['i'])], hosts)}: {why} ({len(faults)} in all)"
    return said
