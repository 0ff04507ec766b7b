"""Benchmark: `prterun --map-by ppr:1:node hostname` on N pods, three ways of starting daemons.

    python -m bench.prterun            (root: it starts its own local cluster)
    BENCH_PRTERUN_SIZES=8,32,128 (default)   BENCH_PRTERUN_ROUNDS=3 (default)
    BENCH_PRTERUN_PHASES=3 (rounds of the phase account at the largest N; 0: none)

All use the PRRTE built by `make prrte-k8sgo` (3.0.8 + OpenPMIx 5.0.5),
so only the daemon launch differs, timed inside the login pod as the pod user:

    k8sgo          plm/k8sgo: one basic_launcher starts every prted (exec API)
    k8sgo+detach   the same with plm_k8sgo_detach: the sessions end once the daemons
                   are wired up (the cost of asking for it)
    ssh+kubexec    flat plm/ssh, one `kubexec POD CMD` per daemon
    ssh+kubectl    flat plm/ssh, one `kubectl exec POD -- /bin/sh -c CMD` per daemon
                   (the seed's kubexec.sh)

Flat (`plm_ssh_no_tree_spawn`): the HNP starts every daemon itself, as the
launcher does. Variants interleave within a round; figures are medians. For
k8sgo the launcher's own "N daemons started over k8s in X s" line splits the
time into launcher and the rest (prted start-up, wire-up, the job, teardown);
then bench.phases accounts for every second of the k8sgo run at the largest N
(verbose runs of their own, after the timed ones). Each run records the load
average it started under. Results: bench/results/prterun.json, prterun.png
(time against N per method), prterun-phases.md, and one line

    prterun N=128: ssh+kubectl/k8sgo=X ssh+kubexec/k8sgo=Y
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

from bench.plot import against_n
from bench.record import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "prterun.json"
PREFIX = REPO / "build" / "prrte-k8sgo" / "install"
# per run: another checkout's bench on this machine must not be taken down by ours
CLUSTER = f"kp-bench-prterun-{os.getpid() % 100000}"
VARIANTS = ("k8sgo", "k8sgo+detach", "ssh+kubexec", "ssh+kubectl")
STARTED = re.compile(r"(\d+) daemons started over k8s in ([0-9.]+) s")
# the seed's kubexec.sh, as DESIGN.md quotes it (no -i: no stdin)
KUBECTL_AGENT = '#!/bin/sh\npod=$1; shift\nexec kubectl exec "$pod" -- /bin/sh -c "$*"\n'


def sizes() -> list[int]:
    return sorted({int(s) for s in os.environ.get("BENCH_PRTERUN_SIZES", "8,32,128").split(",")
                   if s.strip()})


def command(variant: str, hostfile: Path, agent: Path, app: str = "hostname") -> str:
    """The bash command line for one run (pure)."""
    run = f"prterun --hostfile {hostfile} --map-by ppr:1:node {app}"
    base = f"export PRTE_PREFIX={PREFIX} PATH={PREFIX}/bin:$PATH; "
    if variant.startswith("k8sgo"):
        detach = " PRTE_MCA_plm_k8sgo_detach=true" if variant == "k8sgo+detach" else ""
        return (base + f"export PRTE_MCA_plm=k8sgo{detach} "
                "PRTE_MCA_plm_k8sgo_launch_script=$(command -v basic_launcher); " + run)
    agent_cmd = "kubexec" if variant == "ssh+kubexec" else str(agent)
    return (base + f"export PRTE_MCA_plm=ssh PRTE_MCA_plm_ssh_agent={agent_cmd} "
            "PRTE_MCA_plm_ssh_no_tree_spawn=1; " + run)


def run_once(cluster: Any, cmd: str, pods: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    done = cluster.pod_exec(cluster.login_pod, ["/bin/bash", "-c", cmd], timeout=600)
    wall = time.perf_counter() - start
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != pods:
        raise RuntimeError(f"{cmd!r}: status {done.returncode}, {len(lines)}/{pods} lines: "
                           f"{done.stderr[-2000:]}")
    record: dict[str, Any] = {"wall_s": wall, "load": load}
    found = STARTED.search(done.stderr)
    if found:
        record["launcher_started_all_s"] = float(found.group(2))
    return record


def median(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if key in r]
    return statistics.median(values) if values else float("nan")


def run_bench(rounds: int, phase_rounds: int) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
    from bench.phases.__main__ import rounds_on
    from kube_pmix.local.cluster import Cluster, down

    work = REPO / "build" / "bench-prterun"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    work.chmod(0o755)
    agent = work / "kubexec.sh"
    agent.write_text(KUBECTL_AGENT)
    agent.chmod(0o755)
    down(CLUSTER)
    cluster = Cluster.up(name=CLUSTER, nodes=max(sizes()), timeout=120 + 2 * max(sizes()))
    figures: dict[str, Any] = {}
    phases = None
    try:
        for n in sizes():
            hostfile = work / f"hostfile-{n}"
            hostfile.write_text("".join(f"{p}\n" for p in cluster.compute_pods[:n]))
            hostfile.chmod(0o644)
            runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for v in VARIANTS:  # warm-up: page cache, kubectl discovery cache
                run_once(cluster, command(v, hostfile, agent), n)
            for _ in range(rounds):
                for v in VARIANTS:
                    runs[v].append(run_once(cluster, command(v, hostfile, agent), n))
                    print(f"  N={n} {v}: {runs[v][-1]['wall_s']:.2f} s", flush=True)
            figures[str(n)] = {
                v: {"median_s": median(runs[v], "wall_s"),
                    "launcher_median_s": median(runs[v], "launcher_started_all_s"),
                    "runs": runs[v]}
                for v in VARIANTS
            }
        if phase_rounds:
            phases = rounds_on(cluster, max(sizes()), phase_rounds, work)
    finally:
        down(CLUSTER)
        shutil.rmtree(work, ignore_errors=True)
    return figures, phases


def plot(figures: dict[str, Any]) -> Optional[Path]:
    series = {v: {int(n): f[v]["median_s"] for n, f in figures.items()} for v in VARIANTS}
    loads = [r["load"] for f in figures.values() for v in VARIANTS for r in f[v]["runs"]]
    return against_n(series, RESULTS.with_suffix(".png"),
                     title="prterun --map-by ppr:1:node hostname (median)",
                     ylabel="wall time (s)",
                     note=f"local cluster, 2 cores; load average {min(loads):.0f}-"
                          f"{max(loads):.0f} during the runs")


def main(argv: list[str]) -> int:
    if os.geteuid() != 0:
        print("prterun: skipped (the local cluster needs root)")
        return 1
    if not (PREFIX / "bin" / "prterun").exists():
        print(f"prterun: {PREFIX} missing; run make prrte-k8sgo")
        return 1
    rounds = int(os.environ.get("BENCH_PRTERUN_ROUNDS", "3"))
    figures, phases = run_bench(rounds, int(os.environ.get("BENCH_PRTERUN_PHASES", "3")))
    top = figures[str(max(sizes()))]
    k8sgo = top["k8sgo"]["median_s"]
    summary = {
        "n": max(sizes()),
        "ssh_kubectl_over_k8sgo": top["ssh+kubectl"]["median_s"] / k8sgo,
        "ssh_kubexec_over_k8sgo": top["ssh+kubexec"]["median_s"] / k8sgo,
        "k8sgo_detach_over_k8sgo": top["k8sgo+detach"]["median_s"] / k8sgo,
        "k8sgo_launcher_share": top["k8sgo"]["launcher_median_s"] / k8sgo,
    }
    write_json(RESULTS, {
        "summary": summary,
        "per_size": figures,
        "phases": phases,
        "where": "login pod of a local cluster, as the pod user; PRRTE 3.0.8 with plm/k8sgo",
    })
    plot(figures)
    if phases is not None:
        RESULTS.with_name("prterun-phases.md").write_text(phases["table"])
        sys.stdout.write(phases["table"])
    print(f"prterun N={summary['n']}: ssh+kubectl/k8sgo={summary['ssh_kubectl_over_k8sgo']:.2f} "
          f"ssh+kubexec/k8sgo={summary['ssh_kubexec_over_k8sgo']:.2f} "
          f"k8sgo+detach/k8sgo={summary['k8sgo_detach_over_k8sgo']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
