"""Benchmark: `prterun --map-by ppr:1:node hostname` on N pods via plm/ssh, by rsh agent.

    python -m bench.prterun_ssh        (root: it starts its own local cluster)

The job is launched from the login pod as the pod user, as users do, with
PRRTE's ssh PLM and three agents, interleaved, ROUNDS times each after one
warm-up run of each:

    kubexec          KUBEXEC_CONTROL_PERSIST=0: each agent call connects directly
    kubexec-master   kubexec with KUBEXEC_CONTROL_PERSIST, the login pod's default (one
                     warm master there; tree-spawned calls from compute pods go direct)
    kubexec-master-flat  the same with `plm_ssh_no_tree_spawn 1`: every daemon is
                     launched from the login pod, so every call goes through the
                     master (tree spawn has half of them made from compute pods)
    kubectl-agent    the seed's kubexec.sh: `kubectl exec POD -- /bin/sh -c "$*"` (POD:
                     the hostfile's name up to its first dot)
    kubectl-agent-flat  the same without tree spawn: whether the seed's way gains as
                     much from a flat launch as kubexec does

N is 128, or each size in BENCH_SIZES (comma-separated, e.g. `BENCH_SIZES=32`).
Every run must print N lines, one per pod. Medians of the wall time. Results:
bench/results/prterun_ssh.json and, per size, one line:

    prterun-ssh N=128: kubectl-agent/kubexec=X kubectl-agent/kubexec-master=Y
                       kubectl-agent/kubexec-master-flat=Z   (one line)

(> 1 is faster than the seed's way; the goal of issue 11 is >= 2, i.e. <= 0.5x.)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.record import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "prterun_ssh.json"
CLUSTER = "kp-bench-prtessh"
ROUNDS = int(os.environ.get("BENCH_PRTERUN_ROUNDS", "3"))
JOB = ["prterun", "--map-by", "ppr:1:node", "hostname"]
OURS = ("kubexec", "kubexec-master", "kubexec-master-flat")
KUBECTL_AGENT = """#!/bin/sh
# the seed's kubexec.sh; our hostfile says POD.SERVICE.NAMESPACE, kubectl wants POD
pod=${1%%.*}
shift
exec kubectl exec "$pod" -- /bin/sh -c "$*"
"""


def sizes() -> list[int]:
    text = os.environ.get("BENCH_SIZES", "").strip()
    return [int(n) for n in text.split(",") if n.strip()] if text else [128]


def specs(agent_script: str) -> dict[str, Any]:
    return {
        "kubexec": {"argv": JOB, "env": {"PRTE_MCA_plm_ssh_agent": "kubexec",
                                         "KUBEXEC_CONTROL_PERSIST": "0"}},
        "kubexec-master": {"argv": JOB, "env": {"PRTE_MCA_plm_ssh_agent": "kubexec",
                                                "KUBEXEC_CONTROL_PERSIST": "300"}},
        "kubexec-master-flat": {"argv": JOB, "env": {"PRTE_MCA_plm_ssh_agent": "kubexec",
                                                     "PRTE_MCA_plm_ssh_no_tree_spawn": "1",
                                                     "KUBEXEC_CONTROL_PERSIST": "300"}},
        "kubectl-agent": {"argv": JOB, "env": {"PRTE_MCA_plm_ssh_agent": agent_script}},
        "kubectl-agent-flat": {"argv": JOB, "env": {"PRTE_MCA_plm_ssh_agent": agent_script,
                                                    "PRTE_MCA_plm_ssh_no_tree_spawn": "1"}},
    }


def timer(spec: dict[str, Any], rounds: int, nodes: int) -> dict[str, Any]:
    """In the login pod: each job `rounds` times, interleaved, after one warm-up each."""
    import subprocess

    walls: dict[str, list[float]] = {name: [] for name in spec}
    for i in range(1 + rounds):
        for name, job in spec.items():
            start = time.perf_counter()
            proc = subprocess.run(job["argv"], stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, env={**os.environ, **job["env"]}, timeout=900)
            wall = time.perf_counter() - start
            lines = proc.stdout.splitlines()
            if proc.returncode != 0 or len(lines) != nodes:
                raise SystemExit(f"{name}: prterun exited {proc.returncode} with "
                                 f"{len(lines)}/{nodes} lines: {proc.stderr[-2000:]}")
            if i:
                walls[name].append(wall)
    return {name: {"median_s": statistics.median(w), "min_s": min(w), "max_s": max(w),
                   "rounds": rounds} for name, w in walls.items()}


def run_size(nodes: int) -> dict[str, Any]:
    from kube_pmix.local.cluster import Cluster, down

    down(CLUSTER)
    work = REPO / "build" / f"bench-prterun-{os.getpid()}"
    work.mkdir(parents=True)
    agent = work / "kubectl-agent.sh"
    agent.write_text(KUBECTL_AGENT)
    agent.chmod(0o755)
    work.chmod(0o755)
    try:
        cluster = Cluster.up(name=CLUSTER, nodes=nodes, timeout=max(120, 3 * nodes))
        python = str(Path(cluster.venv) / "bin" / "python")
        result = cluster.pod_exec(
            cluster.login_pod,
            [python, "-m", "bench.prterun_ssh", "--timer", json.dumps(specs(str(agent))),
             str(ROUNDS), str(nodes)],
            env={"PYTHONPATH": str(REPO)}, timeout=3600,
        )
        if result.returncode != 0:
            raise RuntimeError(f"prterun timer failed in {cluster.login_pod}: "
                               f"{result.stderr[-2000:]}")
        figures: dict[str, Any] = json.loads(result.stdout)
    finally:
        down(CLUSTER)
        shutil.rmtree(work, ignore_errors=True)
    return figures


def main(argv: list[str]) -> int:
    if argv[:1] == ["--timer"]:
        print(json.dumps(timer(json.loads(argv[1]), int(argv[2]), int(argv[3]))))
        return 0
    if os.geteuid() != 0:
        print("prterun-ssh: skipped (the local cluster needs root)")
        return 1
    results: dict[str, Any] = {}
    lines = []
    for nodes in sizes():
        figures = run_size(nodes)
        seed = figures["kubectl-agent"]["median_s"]
        # the seed's way at its best, tree spawn or not, against each of ours
        best_seed = min(seed, figures["kubectl-agent-flat"]["median_s"])
        summary = {f"kubectl_agent_over_{name.replace('-', '_')}": seed / figures[name]["median_s"]
                   for name in OURS}
        summary["best_kubectl_over_kubexec_master_flat"] = (
            best_seed / figures["kubexec-master-flat"]["median_s"])
        results[str(nodes)] = {"summary": summary, "per_job": figures}
        lines.append(f"prterun-ssh N={nodes}: " + " ".join(
            f"kubectl-agent/{name}={seed / figures[name]['median_s']:.2f}" for name in OURS)
            + f" best-kubectl/kubexec-master-flat="
            f"{summary['best_kubectl_over_kubexec_master_flat']:.2f}")
    write_json(RESULTS, {
        "sizes": results,
        "job": " ".join(JOB),
        "where": "login pod of a local cluster, as the pod user, plm/ssh",
    })
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
