"""What N exec sessions cost a real Kubernetes: per exec started, per session held, per second held.

    python -m bench.k8s_sessions     (root; `make k8s`; builds the images when missing)
    BENCH_K8S_PODS=100 (compute pods)   BENCH_SESSIONS_HOLD=20 (s)   BENCH_SESSIONS_ROUNDS=2

The figures the k8sgo launch model (docs/scaling.md) rests on, measured on the
real test bed: a bed of its own with N compute pods of the `kubectl-with-mpi`
virtual cluster (bench.k8s's deployment), then from the login pod one
k8sgo-launcher starts a stand-in daemon in every pod and holds the sessions
HOLD seconds before ending them; the raw exec floor (bench.launch.floor: full
TLS handshakes, no guard) does the same. Meanwhile a sampler here reads the
bed's processes every 0.25 s: kube-apiserver, etcd, the kubelet, containerd
and every containerd-shim (with the `runc exec` processes they reap), CPU and
RSS. From the launch (start to all up), the hold and the end it derives, per
daemon: CPU per exec started, RSS per session held, CPU per session-second
held (heartbeats every 5 s); and for the launcher its own CPU and RSS.

Results: bench/results/k8s_sessions.json and one line:

    k8s sessions N=100: apiserver X ms/exec Y KiB/session, node Z ms/exec, launcher W ms/exec
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from bench.k8s import IN_POD, PYTHON, bed_with_pods, in_login, launch_spec
from bench.record import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "k8s_sessions.json"
TICK = os.sysconf("SC_CLK_TCK")
# what is sampled: the components by their pids (the bed's status), the shims by name
COMPONENTS = ("kube-apiserver", "etcd", "kubelet", "containerd")
SHIM = "containerd-shim"  # /proc/PID/comm of containerd-shim-runc-v2 (15 characters)


def proc_figures(pid: int) -> tuple[float, float]:
    """(CPU s of the process and of the children it reaped, RSS MB)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK, rss


def shim_pids(cgroup_root: str) -> list[int]:
    """Every containerd-shim under the bed's cgroup subtree."""
    found: set[int] = set()
    base = Path("/sys/fs/cgroup/pids") / cgroup_root.lstrip("/")
    for dirpath, _, files in os.walk(base):
        if "cgroup.procs" in files:
            for pid in (Path(dirpath) / "cgroup.procs").read_text().split():
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == SHIM:
                        found.add(int(pid))
                except OSError:
                    continue
    return sorted(found)


class BedSampler:
    """CPU and RSS of the bed's components, every `interval` s, with wall-clock stamps."""

    def __init__(self, pids: dict[str, list[int]], interval: float = 0.25) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> dict[str, Any]:
        row: dict[str, Any] = {"t": time.time()}
        for name, pids in self.pids.items():
            figures = [proc_figures(pid) for pid in pids]
            row[name] = {"cpu_s": sum(c for c, _ in figures), "rss_mb": sum(r for _, r in figures)}
        return row

    def _loop(self) -> None:
        while not self._done.is_set():
            self.samples.append(self.sample())
            self._done.wait(self.interval)

    def __enter__(self) -> BedSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.samples.append(self.sample())


def at(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """The first sample taken at or after `t` (the last one if none)."""
    return next((s for s in samples if s["t"] >= t), samples[-1])


def before(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """The last sample taken before `t` (the first one if none)."""
    earlier = [s for s in samples if s["t"] < t]
    return earlier[-1] if earlier else samples[0]


def derive(samples: list[dict[str, Any]], timed: dict[str, Any], n: int,
           names: list[str]) -> dict[str, Any]:
    """Per component: ms of CPU per exec started, KiB per session held, ms per session-second
    held; from the samples around the timer's start, all-up, end of hold (pure)."""
    start, up = before(samples, timed["t_start"]), at(samples, timed["t_up"])
    held_from, held_to = at(samples, timed["t_up"] + 1.0), before(samples, timed["t_held"])
    seconds = max(held_to["t"] - held_from["t"], 1e-9)
    during = [s for s in samples if held_from["t"] <= s["t"] <= held_to["t"]] or [held_to]
    out: dict[str, Any] = {}
    for name in names:
        base = start[name]["rss_mb"]
        held = statistics.median(s[name]["rss_mb"] for s in during)
        out[name] = {
            "cpu_ms_per_exec": 1000 * (up[name]["cpu_s"] - start[name]["cpu_s"]) / n,
            "held_kib_per_session": 1024 * (held - base) / n,
            "held_cpu_ms_per_session_s": 1000 * (held_to[name]["cpu_s"] - held_from[name]["cpu_s"])
            / seconds / n,
            "rss_mb_before": base, "rss_mb_held": held,
        }
    return out


def run_bench() -> dict[str, Any]:
    pods = int(os.environ.get("BENCH_K8S_PODS", "100"))
    hold = float(os.environ.get("BENCH_SESSIONS_HOLD", "20"))
    rounds = int(os.environ.get("BENCH_SESSIONS_ROUNDS", "2"))
    figures: dict[str, Any] = {"pods": pods, "hold_s": hold}
    with bed_with_pods(f"kp-bench-sess-{os.getpid() % 100000}", pods, figures) as vcluster:
        status = vcluster.bed.status()
        pids = {c: [int(status[c]["pid"])] for c in COMPONENTS if status.get(c, {}).get("pid")}
        pids["shims"] = shim_pids(vcluster.bed.plan.cgroup_root)
        names = list(pids)
        hostfile = f"{IN_POD}/hostfile-{pods}"
        in_login(vcluster, ["sh", "-c", f"printf '%s\\n' {' '.join(vcluster.compute_pods)} "
                                        f"> {hostfile}"])
        runs: dict[str, list[dict[str, Any]]] = {}
        for i in range(rounds + 1):  # the first warms caches and is not counted
            for method in ("ours-k8s", "floor"):
                spec = {**launch_spec(method, vcluster.compute_pods, hostfile), "expect": pods,
                        "hold": hold}
                if method == "ours-k8s":
                    spec["env"] = {"K8SGO_TRACE": f"{IN_POD}/trace.jsonl"}
                load = os.getloadavg()[0]
                with BedSampler(pids) as sampler:
                    timed = json.loads(in_login(vcluster, [PYTHON, "-m", "bench.launch.timer",
                                                           json.dumps(spec)]))
                    time.sleep(2)  # the teardown, for the record
                if i == 0:
                    continue
                derived = derive(sampler.samples, timed, pods, names)
                runs.setdefault(method, []).append({"timer": timed, "load": load,
                                                    "per_daemon": derived})
                api = derived.get("kube-apiserver", {})
                print(f"  {method} N={pods}: up in {timed['wall_s']:.2f} s, launcher "
                      f"{1000 * timed['cpu_s'] / pods:.1f} ms/daemon {timed['held_rss_mb']:.0f} MB"
                      f"; apiserver {api.get('cpu_ms_per_exec', 0):.2f} ms/exec "
                      f"{api.get('held_kib_per_session', 0):.0f} KiB/session; load {load:.1f}",
                      flush=True)
        figures["runs"] = runs
    return figures


def medians(runs: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """Per component and figure, the median over the rounds."""
    names = runs[0]["per_daemon"].keys()
    out: dict[str, Any] = {}
    for name in names:
        keys = runs[0]["per_daemon"][name].keys()
        out[name] = {k: statistics.median(r["per_daemon"][name][k] for r in runs) for k in keys}
    out["launcher"] = {
        "cpu_ms_per_exec": statistics.median(1000 * r["timer"]["cpu_s"] / n for r in runs),
        "rss_mb_held": statistics.median(r["timer"]["held_rss_mb"] for r in runs),
        "wall_s": statistics.median(r["timer"]["wall_s"] for r in runs),
    }
    return out


def main(argv: Optional[list[str]] = None) -> int:
    if os.geteuid() != 0:
        print("k8s sessions: skipped (the real test bed needs root)")
        return 1
    figures = run_bench()
    n = figures["pods"]
    summary = {m: medians(rs, n) for m, rs in figures["runs"].items()}
    write_json(RESULTS, {"summary": summary, **figures,
                         "where": "real test bed (kube-pmix k8s), login pod -> N compute pods, "
                                  "as the pod user"})
    ours = summary["ours-k8s"]
    api, shims, kubelet = ours["kube-apiserver"], ours["shims"], ours["kubelet"]
    node = (shims["cpu_ms_per_exec"] + kubelet["cpu_ms_per_exec"]
            + ours["containerd"]["cpu_ms_per_exec"])
    print(f"k8s sessions N={n}: apiserver {api['cpu_ms_per_exec']:.2f} ms/exec "
          f"{api['held_kib_per_session']:.0f} KiB/session, node {node:.1f} ms/exec, launcher "
          f"{ours['launcher']['cpu_ms_per_exec']:.2f} ms/exec")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
