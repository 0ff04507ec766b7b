"""`prterun` through plm/k8sgo on hundreds of pods: time, memory, descriptors, CPU, leftovers.

    python -m bench.scale          (root: it starts its own local cluster of max(N) pods)
    BENCH_SCALE_SIZES=256,512 (default; the local cluster takes up to 1020 pods)
    BENCH_SCALE_ROUNDS=2   BENCH_SCALE_VERBOSE=1 (one verbose round per size: the phases)
    BENCH_SCALE_CLUSTER=NAME (a running local cluster of max(N) pods or more, left up)
    K8SGO_* (the launcher's settings, e.g. K8SGO_HEARTBEAT_TIMEOUT) reach the job

Per size N, in the login pod as the pod user, `prterun --map-by ppr:1:node
hostname` on N pods with the FAQ's launcher, under bench.phases.stamp (the
launcher's trace on), while a sampler on this machine reads /proc every half
second (bench.scale.sampler). Each run records: wall time and exit status; the
launcher's CPU and peak memory (its trace) and peak descriptors; prterun's peak
memory and descriptors; the API server's CPU, peak memory, descriptors and
threads (the local cluster's daemon) and its reaped children's CPU (the pods'
exec chains: nsenter, guard, prted...); every pod's peak memory and its prted's;
the machine's lowest MemAvailable; the load average it started under. After
each run every pod must be empty again within a minute, and the API server
back to its descriptors and threads (`left`). A run that fails or times out
says what it waited for (bench.phases.account), and no larger size is tried.

Every N above 128 is above PRRTE's `plm_ssh_num_concurrent`, where a flat
plm/ssh launch deadlocks (README, Known limits): one launcher holding every
daemon's session has no such bound.

Results: bench/results/scale.json, scale.md, scale.png (time against N; with
bench.prterun's methods beside it when its JSON is there), one line:

    scale: N=256 X s, N=512 Y s (k8sgo); largest N=Z
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

from bench.phases.account import account
from bench.phases.run import run_stamped
from bench.phases.table import markdown, summary
from bench.plot import against_n
from bench.prterun import command
from bench.record import write_json
from bench.scale.sampler import Sampler, fd_count, threads, wait_no_leftovers

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
LEFTOVER_WAIT = 60.0


def sizes() -> list[int]:
    text = os.environ.get("BENCH_SCALE_SIZES", "256,512")
    return sorted({int(s) for s in text.split(",") if s.strip()})


def job_env() -> dict[str, str]:
    """The job's environment: our code, and the launcher's settings (K8SGO_*) given to us."""
    return {"PYTHONPATH": str(REPO),
            **{k: v for k, v in os.environ.items() if k.startswith("K8SGO_")}}


def cpu_of(pid: int) -> Optional[tuple[float, float]]:
    """(own CPU s, reaped children's CPU s) of a process; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return ((int(fields[11]) + int(fields[12])) / tick,
            (int(fields[13]) + int(fields[14])) / tick)


def mem_available_mb() -> float:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "max": ordered[-1], "min": ordered[0]}


def one_run(cluster: Any, api_pid: int, pauses: dict[str, int], n: int, job: str,
            verbose: bool) -> dict[str, Any]:
    python = str(Path(cluster.venv) / "bin" / "python")
    timeout = 120 + 0.6 * n
    before_cpu, load = cpu_of(api_pid) or (0.0, 0.0), os.getloadavg()[0]
    api_fds, api_threads = fd_count(api_pid), threads(api_pid)
    lowest_mem = mem_available_mb()
    sampler = Sampler(api_pid, cluster.login_pod, pauses, 0.5 if n <= 512 else 1.0).start()
    try:
        records = run_stamped(cluster.pod_exec, cluster.login_pod, python, job, timeout,
                              job_env(), verbose=verbose)
    finally:
        peaks = sampler.stop()
    api_after = cpu_of(api_pid)
    after_cpu = api_after or before_cpu
    lowest_mem = min(lowest_mem, mem_available_mb())
    acct = account(records, cluster.compute_pods[:n])
    lines = sum(1 for r in records if r.get("src") == "out" and r.get("line"))
    left = wait_no_leftovers(cluster.login_pod, pauses, LEFTOVER_WAIT)
    settle = time.monotonic() + 10  # the API server lets its exec threads go
    while (fd_count(api_pid) > api_fds or threads(api_pid) > api_threads) \
            and time.monotonic() < settle:
        time.sleep(0.5)
    ok = acct.status == 0 and not acct.stopped and lines == n and api_after is not None
    gone = "" if api_after else f"the local API server (pid {api_pid}) ended during the run; "
    said: list[str] = []
    if not ok:  # what prterun and the launcher said last, and every record, for the post-mortem
        said = [r["line"] for r in records if r.get("src") == "err" and r.get("line")][-15:]
        RESULTS.mkdir(parents=True, exist_ok=True)
        with open(RESULTS / f"scale-{n}-failed.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    return {
        "ok": ok, "load": load, "wall_s": acct.total, "status": acct.status,
        "stopped": acct.stopped, "lines": lines,
        "waited_for": gone + (acct.waited_for or ("" if ok else f"{lines} of {n} output lines")),
        "launcher": acct.launcher, "launcher_peak_mb": peaks.launcher_mb,
        "launcher_peak_fds": peaks.launcher_fds,
        "prterun_peak_mb": peaks.prterun_mb, "prterun_peak_fds": peaks.prterun_fds,
        "api_cpu_s": after_cpu[0] - before_cpu[0], "pod_side_cpu_s": after_cpu[1] - before_cpu[1],
        "api_peak_mb": peaks.api_mb, "api_peak_fds": peaks.api_fds,
        "api_peak_threads": peaks.api_threads,
        "api_fds_before_after": [api_fds, fd_count(api_pid)],
        "api_threads_before_after": [api_threads, threads(api_pid)],
        "pod_mb": spread(list(peaks.pod_mb.values())),
        "prted_mb": spread(list(peaks.prted_mb.values())),
        "mem_available_lowest_mb": lowest_mem,
        "samples": peaks.samples, "sampling_s": peaks.scan_s,
        "left": left, "account": summary(acct), "stderr_tail": said,
        "table": markdown(acct) if verbose else "",
    }


def run_size(cluster: Any, api_pid: int, pauses: dict[str, int], n: int, rounds: int,
             verbose_round: bool, work: Path) -> dict[str, Any]:
    hostfile = work / f"hostfile-{n}"
    hostfile.write_text("".join(f"{p}\n" for p in cluster.compute_pods[:n]))
    hostfile.chmod(0o644)
    job = command("k8sgo", hostfile, work / "unused")
    runs = []
    for i in range(rounds):
        runs.append(one_run(cluster, api_pid, pauses, n, job, verbose=False))
        r = runs[-1]
        print(f"  scale N={n} round {i}: {'ok' if r['ok'] else 'FAILED'} "
              f"{r['wall_s'] or 0:.2f} s, launcher {r['launcher'].get('cpu_s', '-')} s CPU "
              f"{r['launcher'].get('maxrss_mb', '-')} MB, API {r['api_cpu_s']:.2f} s CPU "
              f"{r['api_peak_mb']:.0f} MB, pods {r['pod_side_cpu_s']:.1f} s CPU, "
              f"load {r['load']:.1f}" + ("" if r["ok"] else f": {r['waited_for']}"),
              flush=True)
        for line in r["stderr_tail"]:
            print(f"    {line}", flush=True)
        if not r["ok"] or r["left"]:
            return {"n": n, "runs": runs, "ok": False}
    verbose = one_run(cluster, api_pid, pauses, n, job, verbose=True) if verbose_round else None
    walls = [r["wall_s"] for r in runs]
    return {"n": n, "runs": runs, "verbose": verbose, "ok": True,
            "median_s": statistics.median(walls)}


def markdown_table(results: list[dict[str, Any]]) -> str:
    head = ("| N | wall s | launcher CPU s / peak MB / fds | prterun MB / fds | API CPU s / "
            "peak MB / fds / threads | pods' CPU s | pod MB median / max | prted MB median "
            "/ max | lowest MemAvailable MB | left | load |")
    lines = [head, "|" + "---|" * 11]
    for res in results:
        for r in res["runs"]:
            la = r["launcher"]
            lines.append(
                f"| {res['n']} | {r['wall_s'] or 0:.2f}{'' if r['ok'] else ' FAILED'} | "
                f"{la.get('cpu_s', '-')} / {la.get('maxrss_mb', '-')} / {r['launcher_peak_fds']}"
                f" | {r['prterun_peak_mb']:.0f} / {r['prterun_peak_fds']} | "
                f"{r['api_cpu_s']:.2f} / {r['api_peak_mb']:.0f} / {r['api_peak_fds']} / "
                f"{r['api_peak_threads']} | {r['pod_side_cpu_s']:.1f} | "
                f"{r['pod_mb'].get('median', 0):.1f} / {r['pod_mb'].get('max', 0):.1f} | "
                f"{r['prted_mb'].get('median', 0):.1f} / {r['prted_mb'].get('max', 0):.1f} | "
                f"{r['mem_available_lowest_mb']:.0f} | {len(r['left']) or 'none'} | "
                f"{r['load']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]]) -> Optional[Path]:
    series: dict[str, dict[int, float]] = {}
    try:
        small = json.loads((RESULTS / "prterun.json").read_text())["per_size"]
        for n, by_method in small.items():
            for method, fig in by_method.items():
                series.setdefault(method, {})[int(n)] = fig["median_s"]
    except (OSError, ValueError, KeyError):
        pass
    for res in results:
        if res.get("ok"):
            series.setdefault("k8sgo", {})[res["n"]] = res["median_s"]
    loads = [r["load"] for res in results for r in res["runs"]]
    return against_n(series, RESULTS / "scale.png",
                     title="prterun --map-by ppr:1:node hostname (median)",
                     ylabel="wall time (s)",
                     note=f"local cluster, 2 cores; N>128 k8sgo only (bench.scale), load "
                          f"{min(loads, default=0):.0f}-{max(loads, default=0):.0f}")


def main() -> int:
    if os.geteuid() != 0:
        print("scale: skipped (the local cluster needs root)")
        return 1
    from kube_pmix.local.cluster import Cluster, daemon_pid, down

    ns = sizes()
    rounds = int(os.environ.get("BENCH_SCALE_ROUNDS", "2"))
    verbose_round = os.environ.get("BENCH_SCALE_VERBOSE", "1") != "0"
    given = os.environ.get("BENCH_SCALE_CLUSTER")
    name = given or f"kp-bench-scale-{os.getpid() % 100000}"
    work = REPO / "build" / f"bench-scale-{os.getpid()}"
    work.mkdir(parents=True)
    work.chmod(0o755)
    results: list[dict[str, Any]] = []
    up: dict[str, Any] = {"mem_available_before_mb": mem_available_mb()}
    try:
        start = time.monotonic()
        cluster = Cluster(given) if given else Cluster.up(name=name, nodes=max(ns),
                                                          timeout=180 + 2 * max(ns))
        up.update(seconds=time.monotonic() - start, mem_available_after_mb=mem_available_mb())
        api_pid = daemon_pid(cluster.state)
        assert api_pid is not None
        pauses = {pod: int(info["pause_pid"]) for pod, info in cluster.pods().items()}
        for n in ns:
            res = run_size(cluster, api_pid, pauses, n, rounds, verbose_round, work)
            results.append(res)
            if not res["ok"]:
                break
    finally:
        if not given:
            down(name)
        shutil.rmtree(work, ignore_errors=True)
    table = markdown_table(results)
    write_json(RESULTS / "scale.json", {"sizes": results, "cluster_up": up,
                                        "where": "login pod of a local cluster, as the pod "
                                                 "user; plm/k8sgo + basic_launcher"})
    phases = "".join(f"\n### N={r['n']}\n\n{r['verbose']['table']}" for r in results
                     if r.get("verbose"))
    (RESULTS / "scale.md").write_text(table + phases)
    plot(results)
    sys.stdout.write(table)
    done = [r for r in results if r.get("ok")]
    print("scale: " + ", ".join(f"N={r['n']} {r['median_s']:.2f} s" for r in done)
          + f" (k8sgo); largest N={max((r['n'] for r in done), default=0)}"
          + ("" if len(done) == len(results) else
             f"; N={results[-1]['n']} failed: {results[-1]['runs'][-1]['waited_for']}"))
    return 0 if len(done) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
