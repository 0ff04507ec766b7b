"""Benchmark: launch a stand-in daemon on N pods, six ways, from the login pod.

    python -m bench.launch          (root: it starts its own local cluster)
    BENCH_SIZES=8,32 python -m bench.launch        BENCH_LAUNCH_REPS=3 (default)
    BENCH_LAUNCH_METHODS=ours-k8s,floor            (a subset)
    BENCH_LAUNCH_GUARD=PATH                        (another kubexec-guard for ours-*)

Methods, each starting `standin_prted.sh` (prints "up ...", waits for stdin EOF
or a signal) once per pod, timed by bench.launch.timer inside the login pod as
the pod user, where PRRTE's plm/k8sgo would run its launcher:

    ours-k8s          k8sgo-launcher over the exec API (in-cluster config)
    ours-ssh          k8sgo-launcher over ssh (asyncssh) to an sshd per pod
    kubectl-per-host  one `kubectl exec -i` per pod (the seed's kubexec.sh)
    ssh-per-host      one OpenSSH `ssh` per pod (the seed's basic_launcher.c)
    clush             ClusterShell's clush over OpenSSH, fanout 64 (its default) up to
                      N=64, N above: its fanout bounds *running* commands, so with 64
                      it never starts daemon 65 of a job whose daemons wait (measured)
    floor             bench.launch.floor: nothing but the exec requests, all at once

Per run: wall time until all N printed "up"; launcher-side CPU s and RSS (the
processes started and their descendants, at that moment); the local API
server's own CPU s and that of the exec chains it spawned (nsenter, guard,
stand-in: the pod side), both over the whole run. Methods interleave within a
repetition; figures are medians. Results: bench/results/launch.json,
launch.md (table), launch.png (time vs N, log-log) and the summary line

    launch N=128: kubectl-per-host/ours=X ssh-per-host/ours=Y clush/ours=Z ours/floor=W
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from bench.plot import against_n
from bench.record import write_json

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
CLUSTER = "kp-bench-launch"
METHODS = ("ours-k8s", "ours-ssh", "kubectl-per-host", "ssh-per-host", "clush", "floor")
SSH_METHODS = {"ours-ssh", "ssh-per-host", "clush"}
STANDIN = str(REPO / "tests" / "fixtures" / "standin_prted.sh")
CLUSH_FANOUT = 64


def sizes() -> list[int]:
    return sorted({int(s) for s in os.environ.get("BENCH_SIZES", "8,32,128,256").split(",")
                   if s.strip()})


def methods() -> list[str]:
    wanted = os.environ.get("BENCH_LAUNCH_METHODS")
    return [m for m in METHODS if not wanted or m in wanted.split(",")]


def spec(method: str, pods: list[str], hostfile: str, venv: Path,
         ssh_home: str, ssh_config: str) -> dict[str, Any]:
    """What the timer starts for `method` on `pods` (pure)."""
    launcher = str(venv / "bin" / "k8sgo-launcher")
    guard = os.environ.get("BENCH_LAUNCH_GUARD") or str(venv / "bin" / "kubexec-guard")
    ssh_env = {"HOME": ssh_home}
    if method == "ours-k8s":
        return {"argvs": [[launcher, "-q", "-f", hostfile, "--", STANDIN]], "end": "term",
                "env": {"K8SGO_GUARD": guard}}
    if method == "ours-ssh":
        return {"argvs": [[launcher, "-q", "-f", hostfile, "--", STANDIN]], "end": "term",
                "env": {**ssh_env, "K8SGO_TRANSPORT": "ssh", "K8SGO_SSH_CONFIG": ssh_config,
                        "K8SGO_GUARD": guard}}
    if method == "kubectl-per-host":
        return {"argvs": [["kubectl", "exec", "-i", pod, "--", "env",
                           f"PRTE_ESS_K8SGO_ID={i}", STANDIN] for i, pod in enumerate(pods)],
                "end": "eof"}
    if method == "ssh-per-host":
        return {"argvs": [["ssh", "-F", ssh_config, pod, f"PRTE_ESS_K8SGO_ID={i}", STANDIN]
                          for i, pod in enumerate(pods)], "end": "eof", "env": ssh_env}
    if method == "clush":
        fanout = max(CLUSH_FANOUT, len(pods))
        return {"argvs": [[str(venv / "bin" / "clush"), "-f", str(fanout), "-w",
                           ",".join(pods), "-o", f"-F {ssh_config}", STANDIN]],
                "end": "eof", "env": ssh_env}
    if method == "floor":
        return {"argvs": [[str(venv / "bin" / "python"), "-m", "bench.launch.floor",
                           hostfile, STANDIN]], "end": "term",
                "env": {"PYTHONPATH": str(REPO)}}
    raise ValueError(method)


def daemon_cpu(pid: int) -> tuple[float, float]:
    """(own CPU s, reaped children's CPU s) of the API server process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return ((int(fields[11]) + int(fields[12])) / tick,
            (int(fields[13]) + int(fields[14])) / tick)


def run_once(cluster: Any, api_pid: int, job: dict[str, Any], n: int) -> dict[str, Any]:
    job = {**job, "expect": n}
    before = daemon_cpu(api_pid)
    done = cluster.pod_exec(
        cluster.login_pod,
        [str(Path(cluster.venv) / "bin" / "python"), "-m", "bench.launch.timer", json.dumps(job)],
        env={"PYTHONPATH": str(REPO)}, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"timer failed: {done.stderr.strip()[-500:]}")
    after = daemon_cpu(api_pid)
    figures: dict[str, Any] = json.loads(done.stdout)
    figures["api_cpu_s"] = after[0] - before[0]
    figures["pod_cpu_s"] = after[1] - before[1]
    return figures


def wait_pods_idle(cluster: Any, pods: list[str], within: float = 30) -> None:
    from tests.fixtures.k8sgo import wait_nothing_left

    left = wait_nothing_left(cluster, pods, within)
    if left:
        raise RuntimeError(f"left running after a run: {left}")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("wall_s", "cpu_s", "rss_mb", "api_cpu_s", "pod_cpu_s")
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "runs": runs}


def run_bench() -> dict[str, dict[int, dict[str, Any]]]:
    from kube_pmix.local.cluster import Cluster, daemon_pid, down
    from tests.fixtures.sshd import PodSshd, have_openssh

    ns, chosen = sizes(), methods()
    reps = int(os.environ.get("BENCH_LAUNCH_REPS", "3"))
    if SSH_METHODS & set(chosen) and not have_openssh():
        print("launch: no OpenSSH; ssh methods skipped", file=sys.stderr)
        chosen = [m for m in chosen if m not in SSH_METHODS]
    down(CLUSTER)
    cluster = Cluster.up(name=CLUSTER, nodes=max(ns), timeout=120 + 2 * max(ns))
    sshd: Optional[PodSshd] = None
    work = Path(tempfile.mkdtemp(prefix="bench-launch-", dir=REPO / "build"))
    work.chmod(0o755)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {m: {} for m in chosen}
    try:
        api_pid = daemon_pid(cluster.state)
        assert api_pid is not None
        if SSH_METHODS & set(chosen):
            sshd = PodSshd(cluster, cluster.compute_pods)
            sshd.start(timeout=60 + max(ns) / 2)
        ssh_home = str(sshd.home) if sshd else ""
        ssh_config = str(sshd.client_config) if sshd else ""
        for n in ns:
            pods = cluster.compute_pods[:n]
            hostfile = work / f"hostfile-{n}"
            hostfile.write_text("".join(f"{p}\n" for p in pods))
            hostfile.chmod(0o644)
            jobs = {m: spec(m, pods, str(hostfile), Path(cluster.venv), ssh_home, ssh_config)
                    for m in chosen}
            if n == ns[0]:  # warm-up: page cache, kubectl's discovery cache
                for m in chosen:
                    run_once(cluster, api_pid, jobs[m], n)
                    wait_pods_idle(cluster, pods)
            for rep in range(reps):
                for m in chosen:
                    figures = run_once(cluster, api_pid, jobs[m], n)
                    results[m].setdefault(n, []).append(figures)
                    print(f"launch {m} N={n} rep {rep}: {figures['wall_s']:.3f} s "
                          f"cpu {figures['cpu_s']:.2f} s rss {figures['rss_mb']:.0f} MB "
                          f"api {figures['api_cpu_s']:.2f} s", file=sys.stderr, flush=True)
                    wait_pods_idle(cluster, pods)
    finally:
        if sshd is not None:
            sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
        down(CLUSTER)
    return {m: {n: median_of(runs) for n, runs in by_n.items()} for m, by_n in results.items()}


def summary_line(table: dict[str, dict[int, dict[str, Any]]]) -> str:
    ns = sorted({n for by_n in table.values() for n in by_n})
    n = 128 if 128 in ns else ns[-1]

    def ratio(a: str, b: str) -> str:
        try:
            return f"{table[a][n]['wall_s'] / table[b][n]['wall_s']:.2f}"
        except KeyError:
            return "n/a"

    return (f"launch N={n}: kubectl-per-host/ours={ratio('kubectl-per-host', 'ours-k8s')} "
            f"ssh-per-host/ours={ratio('ssh-per-host', 'ours-k8s')} "
            f"clush/ours={ratio('clush', 'ours-k8s')} ours/floor={ratio('ours-k8s', 'floor')}")


def markdown(table: dict[str, dict[int, dict[str, Any]]]) -> str:
    lines = ["| method | N | wall s | launcher CPU s | ms CPU/daemon | RSS MB | API CPU s "
             "| pod-side CPU s |", "|---|---|---|---|---|---|---|---|"]
    for m, by_n in table.items():
        for n, f in sorted(by_n.items()):
            lines.append(f"| {m} | {n} | {f['wall_s']:.3f} | {f['cpu_s']:.2f} | "
                         f"{1000 * f['cpu_s'] / n:.1f} | {f['rss_mb']:.0f} | "
                         f"{f['api_cpu_s']:.2f} | {f['pod_cpu_s']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(table: dict[str, dict[int, dict[str, Any]]], path: Path) -> bool:
    series = {m: {n: f["wall_s"] for n, f in by_n.items()} for m, by_n in table.items()}
    return against_n(series, path, title="Launching N daemons (median)",
                     ylabel="wall time until all printed 'up' (s)") is not None


def main() -> int:
    if os.geteuid() != 0:
        print("launch: skipped (the local cluster needs root)")
        return 1
    table = run_bench()
    RESULTS.mkdir(parents=True, exist_ok=True)
    line = summary_line(table)
    write_json(RESULTS / "launch.json", {
        "summary": line,
        "methods": table,
        "where": "login pod -> N compute pods of one local cluster, as the pod user",
    })
    (RESULTS / "launch.md").write_text(markdown(table))
    plot(table, RESULTS / "launch.png")
    sys.stdout.write(markdown(table))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
