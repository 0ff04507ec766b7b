"""bench.phases: a k8sgo prterun accounted for from its stamps; what a stalled one waited for."""

from __future__ import annotations

import json

import pytest

from bench.phases.account import account
from bench.phases.run import parse, stamped_argv
from bench.phases.table import markdown

T0 = 1000.0
J = "prterun-login-7"
HOSTS = ["hpc-cn-0", "hpc-cn-1", "hpc-cn-2"]


def err(t: float, line: str) -> dict:
    return {"t": T0 + t, "src": "err", "line": line}


def hnp_state(t: float, state: str, job: str = f"{J}@1") -> dict:
    return err(t + 0.001, f"[login:00016] [{J}@0,0] [{T0 + t:.6f}] ACTIVATING JOB {job} "
                          f"STATE {state}")


def trace(t: float, ev: str, **fields) -> dict:
    return {"src": "trace", "t": T0 + t, "ev": ev, **fields}


def a_run(opened=(0, 1, 2), reported=(1, 2, 3), end=True, status=0, stopped="") -> list[dict]:
    records = [
        err(0.10, f"[login:00016] [{J}@0,0] plm:k8sgo: 3 daemon(s) from vpid 1: basic_launcher"
                  " -f /dev/fd/3 -- /x/prted"),
        err(0.10, f"[login:00016] [{J}@0,0] plm:k8sgo: hosts {','.join(HOSTS)}"),
        trace(0.40, "imported"), trace(0.45, "prepared", hosts=3),
    ]
    for i in range(3):
        records.append(trace(0.46 + i * 0.01, "setup", i=i))
    for i in opened:
        records.append(trace(0.60 + i * 0.1, "open", i=i))
    for v in reported:
        records.append(err(0.90 + v * 0.1, f"[login:00016] [{J}@0,0] plm:base:orted_report_"
                                           f"launch from daemon [{J}@0,{v}] on node "
                                           f"{HOSTS[v - 1]}"))
    if len(reported) == 3:
        records += [hnp_state(1.25, "ALL DAEMONS REPORTED", f"{J}@0"),
                    hnp_state(1.30, "SENDING LAUNCH MSG"),
                    err(1.36, f"[hpc-cn-0:00008] [{J}@0,1] [{T0 + 1.35:.6f}] ACTIVATING PROC "
                              f"[{J}@1,0] STATE RUNNING"),
                    hnp_state(1.50, "RUNNING"),
                    {"t": T0 + 1.75, "src": "out", "line": "hpc-cn-1"},
                    hnp_state(1.60, "NORMALLY TERMINATED"),
                    hnp_state(1.80, "DAEMONS TERMINATED", "NULL")]
    if end:
        records += [trace(1.70, "caller-end")] + [trace(1.85, "exit", i=i, status=0)
                                                  for i in opened]
        records.append(trace(1.90, "end", cpu_s=0.3, maxrss_mb=41.0))
    records.append({"src": "meta", "started": T0, "t": T0 + 2.0, "status": status,
                    "stopped": stopped, "children_cpu_s": 0.5})
    return records


def test_milestones_in_order_and_the_phases_add_up_to_the_run() -> None:
    acct = account(a_run())
    names = [m.name for m in acct.milestones]
    assert names == ["launcher forked", "launcher's code loaded", "pods resolved",
                     "first daemon's session open", "all 3 sessions open",
                     "first daemon called back", "all daemons called back",
                     "launch message sent", "first rank running", "all ranks running",
                     "job ended", "last output line", "daemons gone", "launcher ended",
                     "prterun exited"]
    phases = acct.phases()
    assert sum(gap for _, gap, _ in phases) == pytest.approx(acct.total) == pytest.approx(2.0)
    assert dict((n, s) for n, _, s in phases)["all daemons called back"] == pytest.approx(1.25)
    assert acct.daemons == 3 and acct.hosts == HOSTS
    # set-up: slot to open; start-up: open to the call back of vpid i + 1
    assert acct.setup is not None and acct.setup.maximum == pytest.approx(0.80 - 0.48)
    assert acct.startup is not None and acct.startup.median == pytest.approx(0.40)
    assert acct.launcher == {"cpu_s": 0.3, "maxrss_mb": 41.0}
    assert acct.waited_for == ""
    table = markdown(acct)
    assert "| all daemons called back | 0.250 | 1.250 |" in table


def test_a_run_stopped_before_every_session_opened_names_the_hosts() -> None:
    acct = account(a_run(opened=(0,), reported=(1,), end=False, status=143,
                         stopped="timeout"))
    assert acct.waited_for == ("waiting for exec sessions: 1 of 3 open; not open: "
                               "hpc-cn-1, hpc-cn-2")
    assert "**waiting for exec sessions" in markdown(acct)


def test_a_run_whose_daemons_did_not_all_call_back_names_them() -> None:
    acct = account(a_run(reported=(1, 3), end=False, status=143, stopped="timeout"))
    assert acct.waited_for == ("waiting for daemons to call back: 2 of 3; missing: hpc-cn-1")


def test_a_failed_set_up_is_named_with_its_reason() -> None:
    records = a_run(opened=(0, 2), reported=(), end=False, status=1)
    records.insert(-1, trace(0.7, "failed", i=1, why="HTTP 403: forbidden"))
    acct = account(records)
    assert acct.waited_for == ("waiting for exec sessions: 2 of 3 open; not open: hpc-cn-1; "
                               "1 failed, first hpc-cn-1: HTTP 403: forbidden")


def test_a_launcher_still_waiting_for_statuses_says_whose() -> None:
    records = [r for r in a_run(status=1) if not (r.get("ev") in ("exit", "end")
                                                  and r.get("i", 0) != 0)]
    acct = account([r for r in records if r.get("ev") != "end"])
    assert acct.waited_for == ("waiting for the launcher: 2 sessions without an exit status: "
                               "hpc-cn-1, hpc-cn-2")


def test_no_launcher_line_means_prterun_never_forked_it() -> None:
    meta = {"src": "meta", "started": T0, "t": T0 + 9, "status": 1, "stopped": ""}
    acct = account([err(0.1, f"[login:00016] [{J}@0,0] plm:base:receive start comm"), meta])
    assert acct.waited_for.startswith("waiting for prterun to fork the launcher")
    assert account([meta]).waited_for.startswith("no launcher trace and prterun not verbose")


def test_the_stamp_runs_bash_verbose_and_its_lines_parse_back() -> None:
    argv = stamped_argv("/v/bin/python", "prterun hostname", 30)
    assert argv[:4] == ["/v/bin/python", "-m", "bench.phases.stamp", "30"]
    assert argv[4:6] == ["/bin/bash", "-c"]
    assert argv[6] == ("export PRTE_MCA_plm_base_verbose=5 PRTE_MCA_state_base_verbose=1; "
                       "prterun hostname")
    assert stamped_argv("p", "j", 1, verbose=False)[-1] == "j"
    lines = "\n".join(json.dumps(r) for r in a_run()) + "\nnot json\n"
    assert parse(lines) == a_run()


def test_without_verbose_lines_the_trace_still_says_how_far_it_got() -> None:
    quiet = [r for r in a_run(opened=(0, 1), reported=(), end=False, status=143,
                              stopped="timeout")
             if r["src"] != "err"]
    acct = account(quiet)
    assert acct.daemons == 3  # from the trace's pod list
    assert acct.waited_for == "waiting for exec sessions: 2 of 3 open; not open: #2"
    opened_all = [r for r in a_run(end=False, status=143, stopped="timeout")
                  if r["src"] != "err"]
    assert account(opened_all).waited_for.startswith("every session open; 3 without an exit")


def test_a_run_that_failed_after_every_session_opened_names_the_first_fault() -> None:
    """bench.scale's rounds are not verbose: the trace alone must say what went wrong."""
    records = [r for r in a_run(status=1) if r["src"] != "err"
               and not (r.get("ev") == "exit" and r.get("i") in (1, 2))]
    records[-1:-1] = [trace(1.80, "stop", reason="failure"),
                      trace(1.86, "exit", i=2, status=143),
                      trace(1.84, "exit", i=1, status=3)]
    acct = account(records)
    assert acct.waited_for == ("every session opened and ended; exit status 1; the launcher "
                               "ended the daemons (failure); first: #1: exit status 3 (2 in all)")
    # bench.scale gives the hostfile's lines, which a quiet prterun does not say
    assert account(records, HOSTS).waited_for.endswith("first: hpc-cn-1: exit status 3 (2 in all)")
    failed_setup = [r for r in a_run(status=1) if r.get("ev") != "exit" or r.get("i") != 2]
    failed_setup.insert(-1, trace(1.83, "failed", i=2, why="exec session broke: reset"))
    assert account(failed_setup).waited_for == (
        "every milestone reached; exit status 1; first: hpc-cn-2: exec session broke: reset "
        "(1 in all)")
