"""Benchmark: what a k8sgo job holds through the API server while it runs, with and without
plm_k8sgo_detach.

    python -m bench.detach        (root: it starts its own local cluster)
    BENCH_DETACH_N=64 (default)   BENCH_DETACH_SLEEP=10 (s each rank sleeps)
    BENCH_DETACH_ROUNDS=2 (default)

In the login pod, as the pod user, `prterun --map-by ppr:1:node sh -c 'sleep S;
hostname'` on N pods through plm/k8sgo, then the same with the sessions detached
once the daemons are wired up; the two interleave within a round. While the
ranks sleep (the second half of S) a sampler reads the local API server's
threads and descriptors from /proc: it runs one thread and holds descriptors per
exec session, so what it holds above its idle figures then is the job's held
sessions. Also timed: the whole run (the detach's cost). Results:
bench/results/detach.json and one line

    detach N=64: API server threads held mid-job k8sgo=+X k8sgo+detach=+Y; ...
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.prterun import command
from bench.record import write_json
from bench.scale.sampler import fd_count, threads

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "detach.json"
CLUSTER = f"kp-bench-detach-{os.getpid() % 100000}"
VARIANTS = ("k8sgo", "k8sgo+detach")
POLL = 0.25


def held(samples: list[tuple[float, int, int]], start: float, sleep: float) -> tuple[int, int]:
    """(threads, descriptors) above the idle figures, median over the second half of the
    ranks' sleep (pure): the launch is over by then, the job not yet."""
    window = [(t, f) for at, t, f in samples if start + sleep / 2 <= at <= start + sleep * 0.9]
    if not window:
        return -1, -1
    return (int(statistics.median(t for t, _ in window)),
            int(statistics.median(f for _, f in window)))


def run_once(cluster: Any, api_pid: int, cmd: str, n: int, sleep: float) -> dict[str, Any]:
    idle_threads, idle_fds = threads(api_pid), fd_count(api_pid)
    samples: list[tuple[float, int, int]] = []
    result: dict[str, Any] = {}

    def job() -> None:
        result["done"] = cluster.pod_exec(cluster.login_pod, ["/bin/bash", "-c", cmd],
                                          timeout=120 + sleep + n)

    start = time.monotonic()
    runner = threading.Thread(target=job)
    runner.start()
    while runner.is_alive():
        samples.append((time.monotonic(), threads(api_pid) - idle_threads,
                        fd_count(api_pid) - idle_fds))
        runner.join(POLL)
    wall = time.monotonic() - start
    done = result["done"]
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != n:
        raise RuntimeError(f"{cmd!r}: status {done.returncode}, {len(lines)}/{n} lines: "
                           f"{done.stderr[-2000:]}")
    held_threads, held_fds = held(samples, start, sleep)
    return {"wall_s": wall, "held_threads": held_threads, "held_fds": held_fds,
            "load": os.getloadavg()[0]}


def main() -> int:
    if os.geteuid() != 0:
        print("detach: skipped (the local cluster needs root)")
        return 1
    from kube_pmix.local.cluster import Cluster, daemon_pid, down

    n = int(os.environ.get("BENCH_DETACH_N", "64"))
    sleep = float(os.environ.get("BENCH_DETACH_SLEEP", "10"))
    rounds = int(os.environ.get("BENCH_DETACH_ROUNDS", "2"))
    work = REPO / "build" / f"bench-detach-{os.getpid()}"
    work.mkdir(parents=True)
    work.chmod(0o755)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    try:
        cluster = Cluster.up(name=CLUSTER, nodes=n, timeout=120 + 2 * n)
        api_pid = daemon_pid(cluster.state)
        assert api_pid is not None
        hostfile = work / "hostfile"
        hostfile.write_text("".join(f"{p}\n" for p in cluster.compute_pods[:n]))
        hostfile.chmod(0o644)
        app = f"sh -c 'sleep {sleep:g}; hostname'"
        for _ in range(rounds):
            for v in VARIANTS:
                runs[v].append(run_once(cluster, api_pid,
                                        command(v, hostfile, work / "unused", app), n, sleep))
                r = runs[v][-1]
                print(f"  N={n} {v}: {r['wall_s']:.2f} s, API server holds "
                      f"+{r['held_threads']} threads +{r['held_fds']} fds mid-job", flush=True)
    finally:
        down(CLUSTER)
        shutil.rmtree(work, ignore_errors=True)

    def med(v: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[v])

    summary = {"n": n, "sleep_s": sleep,
               **{f"{v}_{key}": med(v, key) for v in VARIANTS
                  for key in ("wall_s", "held_threads", "held_fds")},
               "detach_over_k8sgo_wall": med("k8sgo+detach", "wall_s") / med("k8sgo", "wall_s")}
    write_json(RESULTS, {"summary": summary, "runs": runs,
                         "where": "login pod of a local cluster, as the pod user; "
                                  "the local API server's /proc"})
    print(f"detach N={n}: API server threads held mid-job k8sgo=+{med('k8sgo', 'held_threads'):.0f}"
          f" k8sgo+detach=+{med('k8sgo+detach', 'held_threads'):.0f}, fds "
          f"+{med('k8sgo', 'held_fds'):.0f}/+{med('k8sgo+detach', 'held_fds'):.0f}; "
          f"wall k8sgo+detach/k8sgo={summary['detach_over_k8sgo_wall']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
