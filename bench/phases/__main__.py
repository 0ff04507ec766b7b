"""Where every second of `prterun --map-by ppr:1:node hostname` through plm/k8sgo goes.

    python -m bench.phases              (root: it starts its own local cluster)
    BENCH_PHASES_N=128 (pods)  BENCH_PHASES_ROUNDS=3  BENCH_PHASES_CLUSTER=NAME (use a
    running local cluster of at least N pods instead of starting one)

Each round runs the job once in the login pod, as the pod user, under
bench.phases.stamp, with prterun and its daemons verbose (plm_base_verbose 5,
state_base_verbose 1) and the launcher's trace on; bench.phases.account turns
the stamps into milestones and phases. Printed: the round with the median
total as a table, and each milestone's median over the rounds; written:
bench/results/phases.json and phases.md. The verbose output itself costs some
time: the same job without it is timed in the same rounds (`quiet_s`).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.phases.account import account
from bench.phases.run import run_stamped
from bench.phases.table import markdown, summary
from bench.prterun import command
from bench.record import write_json

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"


def medians(accounts: list[Any]) -> dict[str, float]:
    """Per milestone, the median of its time since the start over the rounds that reached it."""
    seen: dict[str, list[float]] = {}
    for acct in accounts:
        for name, _gap, since in acct.phases():
            seen.setdefault(name, []).append(since)
    return {name: statistics.median(v) for name, v in seen.items()}


def rounds_on(cluster: Any, n: int, rounds: int, work: Path) -> dict[str, Any]:
    hostfile = work / f"hostfile-{n}"
    hostfile.write_text("".join(f"{p}\n" for p in cluster.compute_pods[:n]))
    hostfile.chmod(0o644)
    python = str(Path(cluster.venv) / "bin" / "python")
    job = command("k8sgo", hostfile, work / "unused") + " >/dev/null"
    env = {"PYTHONPATH": str(REPO)}
    accounts, quiet = [], []
    for i in range(rounds + 1):  # the first warms caches
        load = os.getloadavg()[0]
        acct = account(run_stamped(cluster.pod_exec, cluster.login_pod, python, job, 600, env))
        start = time.perf_counter()
        bare = run_stamped(cluster.pod_exec, cluster.login_pod, python, job, 600, env,
                           verbose=False)
        quiet_s = time.perf_counter() - start
        if acct.status != 0 or acct.stopped:
            raise RuntimeError(f"prterun N={n}: exit {acct.status} {acct.stopped}: "
                               f"{acct.waited_for}")
        if i:
            accounts.append((acct, load))
            quiet.append(account(bare).total or quiet_s)
        print(f"  phases N={n} round {i}: {acct.total:.2f} s verbose, "
              f"{quiet[-1] if i else quiet_s:.2f} s quiet, load {load:.1f}", flush=True)
    ordered = sorted(accounts, key=lambda a: a[0].total or 0)
    typical, load = ordered[len(ordered) // 2]
    return {
        "n": n, "typical": summary(typical), "typical_load": load,
        "table": markdown(typical),
        "milestone_medians_s": medians([a for a, _ in accounts]),
        "verbose_total_s": [a.total for a, _ in accounts],
        "quiet_total_s": quiet, "loads": [ld for _, ld in accounts],
    }


def main() -> int:
    if os.geteuid() != 0:
        print("phases: skipped (the local cluster needs root)")
        return 1
    from kube_pmix.local.cluster import Cluster, down

    n = int(os.environ.get("BENCH_PHASES_N", "128"))
    rounds = int(os.environ.get("BENCH_PHASES_ROUNDS", "3"))
    given = os.environ.get("BENCH_PHASES_CLUSTER")
    name = given or f"kp-bench-phases-{os.getpid()}"
    work = REPO / "build" / f"bench-phases-{os.getpid()}"
    work.mkdir(parents=True)
    work.chmod(0o755)
    try:
        cluster = Cluster(given) if given else Cluster.up(name=name, nodes=n,
                                                          timeout=120 + 2 * n)
        result = rounds_on(cluster, n, rounds, work)
    finally:
        if not given:
            down(name)
        shutil.rmtree(work, ignore_errors=True)
    write_json(RESULTS / "phases.json", {**result, "where": "login pod of a local cluster, "
                                         "as the pod user; plm/k8sgo + basic_launcher"})
    (RESULTS / "phases.md").write_text(result["table"])
    sys.stdout.write(result["table"])
    quiet = statistics.median(result["quiet_total_s"])
    print(f"phases N={n}: {statistics.median(result['verbose_total_s']):.2f} s verbose, "
          f"{quiet:.2f} s quiet (median of {rounds}); table in bench/results/phases.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
