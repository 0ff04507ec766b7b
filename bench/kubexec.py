"""Benchmark: one remote `true` per call, kubexec vs `kubectl exec` vs ssh.

    python -m bench.kubexec            (root: it starts its own local cluster)

Everything is timed from inside the login pod as the pod user, where PRRTE
calls its rsh agent: `kubexec hpc-cn-0 true` (in-cluster config), `kubectl
exec hpc-cn-0 -- true` (in-cluster config, discovery cache warmed), and `ssh`
to an OpenSSH server started for the run in hpc-cn-0 as the pod user (high
port, generated host and user keys, strict host key checking against a
generated known_hosts). Also `kubexec` through its control master
(KUBEXEC_CONTROL_PERSIST, started by the warm-up) and `kubexec --no-guard`.
All run interleaved, N rounds after a warm-up; medians. CPU time is the
user+sys of the child processes (getrusage RUSAGE_CHILDREN deltas); for the
master's calls, the master's own CPU (its /proc stat, with the children it
forked and reaped) over the rounds is added, per call, to the client's.
Results: bench/results/kubexec.json and one line:

    kubexec per call: kubexec/kubectl=X cpu=C master: wall=A cpu=B ssh/kubectl=Y kubexec_cpu_s=Z

X and C: the direct path, wall and CPU ratios to `kubectl exec`; A and B: the
same through the master. The goal (issue 11) is <= 0.5 for both wall and CPU.
"""

from __future__ import annotations

import json
import os
import pwd
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.record import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "kubexec.json"
CLUSTER = "kp-bench-kx"
POD_USER = "mpiuser"
SSH_PORT = 22022
ROUNDS = int(os.environ.get("BENCH_KUBEXEC_ROUNDS", "30"))
WARMUP = 3


MASTER_ENV = {"KUBEXEC_CONTROL_PERSIST": "120"}
DIRECT_ENV = {"KUBEXEC_CONTROL_PERSIST": "0"}  # the login pod's default is the master
REAPED = 1.5  # s: the master reaps its children within 1 s; their CPU is counted then


def _master_cpu_s() -> float:
    """CPU of every live kubexec control master of this user, with its reaped children."""
    from launchers.kubexec.control import rundir

    base, _ = rundir.base_dir(os.environ)
    total = 0.0
    for lock in Path(base, f"kubexec-{os.getuid()}").glob("master-*.lock"):
        try:
            fields = Path(f"/proc/{int(lock.read_text())}/stat").read_text().rsplit(")", 1)[1]
        except (OSError, ValueError):
            continue
        ticks = [int(v) for v in fields.split()[11:15]]  # utime stime cutime cstime
        total += sum(ticks) / os.sysconf("SC_CLK_TCK")
    return total


def timer(spec: dict[str, Any], rounds: int) -> dict[str, Any]:
    """In the pod: run each command `rounds` times, interleaved; wall and child CPU per call.

    A spec value is an argv, or {"argv": [...], "env": {...}} (added to ours); with
    MASTER_ENV in it, the master's CPU over the rounds is shared out per call.
    """
    walls: dict[str, list[float]] = {name: [] for name in spec}
    cpus: dict[str, list[float]] = {name: [] for name in spec}
    runs = {name: (value, None) if isinstance(value, list)
            else (value["argv"], {**os.environ, **value["env"]}) for name, value in spec.items()}
    mastered = [name for name, (_, env) in runs.items()
                if env and env.get("KUBEXEC_CONTROL_PERSIST", "0") != "0"]
    master_before = 0.0
    for i in range(WARMUP + rounds):
        if i == WARMUP and mastered:
            time.sleep(REAPED)
            master_before = _master_cpu_s()
        for name, (argv, env) in runs.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed ({proc.returncode}): {proc.stderr.decode()}")
            if i >= WARMUP:
                walls[name].append(wall)
                cpus[name].append(after.ru_utime - before.ru_utime
                                  + after.ru_stime - before.ru_stime)
    master_share = 0.0
    if mastered:
        time.sleep(REAPED)
        master_share = (_master_cpu_s() - master_before) / (rounds * len(mastered))
    return {
        name: {
            "median_s": statistics.median(walls[name]),
            "min_s": min(walls[name]),
            "max_s": max(walls[name]),
            "cpu_median_s": statistics.median(cpus[name])
            + (master_share if name in mastered else 0.0),
            "client_cpu_median_s": statistics.median(cpus[name]),
            "master_cpu_per_call_s": master_share if name in mastered else 0.0,
            "rounds": rounds,
        }
        for name in spec
    }


def sshd_path() -> str:
    """sshd lives in an sbin folder that an unprivileged PATH may lack; it must be absolute."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which("sshd", path=search)
    if not found:
        raise RuntimeError("sshd not found: install openssh-server")
    return found


class SshServer:
    """An OpenSSH server in a pod, run as the pod user, with keys made for this run."""

    def __init__(self, cluster: Any, pod: str) -> None:
        self.cluster = cluster
        self.pod = pod
        self.dir = REPO / "build" / f"bench-ssh-{os.getpid()}"

    def start(self) -> list[str]:
        """Start sshd; returns the client argv prefix (ssh ... POD)."""
        d = self.dir
        d.mkdir(parents=True)
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                           check=True)
        shutil.copy(d / "client_key.pub", d / "authorized_keys")
        (d / "sshd_config").write_text(
            f"Port {SSH_PORT}\nListenAddress 0.0.0.0\nHostKey {d}/host_key\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\nUsePAM no\n"
            "StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        )
        kind, key = (d / "host_key.pub").read_text().split()[:2]
        (d / "known_hosts").write_text(f"[{self.pod}]:{SSH_PORT} {kind} {key}\n")
        user = pwd.getpwnam(POD_USER)
        for path in [d, *d.iterdir()]:
            os.chown(path, user.pw_uid, user.pw_gid)
        result = self.cluster.pod_exec(
            self.pod, [sshd_path(), "-f", str(d / "sshd_config"), "-E", str(d / "log")])
        if result.returncode != 0:
            raise RuntimeError(f"sshd did not start in {self.pod}: {result.stderr}")
        return ["ssh", "-p", str(SSH_PORT), "-i", str(d / "client_key"),
                "-o", f"UserKnownHostsFile={d}/known_hosts", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", self.pod]

    def stop(self) -> None:
        pidfile = self.dir / "sshd.pid"
        if pidfile.exists():
            self.cluster.pod_exec(self.pod, f"kill $(cat {pidfile})", timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def run_bench() -> dict[str, Any]:
    from kube_pmix.local.cluster import Cluster, down

    down(CLUSTER)
    cluster = Cluster.up(name=CLUSTER, nodes=1)
    try:
        pod = cluster.compute_pods[0]
        ssh = SshServer(cluster, pod)
        try:
            ssh_argv = ssh.start()
            spec = {
                "kubexec": {"argv": ["kubexec", pod, "true"], "env": DIRECT_ENV},
                "kubectl": ["kubectl", "exec", pod, "--", "true"],
                "ssh": [*ssh_argv, "true"],
                "kubexec_no_guard": {"argv": ["kubexec", "--no-guard", pod, "true"],
                                     "env": DIRECT_ENV},
                "kubexec_master": {"argv": ["kubexec", pod, "true"], "env": MASTER_ENV},
            }
            python = str(Path(cluster.venv) / "bin" / "python")
            result = cluster.pod_exec(
                cluster.login_pod,
                [python, "-m", "bench.kubexec", "--timer", json.dumps(spec), str(ROUNDS)],
                env={"PYTHONPATH": str(REPO)}, timeout=1800,
            )
            if result.returncode != 0:
                raise RuntimeError(f"timer failed in {cluster.login_pod}: {result.stderr}")
            figures: dict[str, Any] = json.loads(result.stdout)
        finally:
            ssh.stop()
    finally:
        down(CLUSTER)
    return figures


def main(argv: list[str]) -> int:
    if argv[:1] == ["--timer"]:
        print(json.dumps(timer(json.loads(argv[1]), int(argv[2]))))
        return 0
    if os.geteuid() != 0:
        print("kubexec per call: skipped (the local cluster needs root)")
        return 1
    figures = run_bench()
    kubectl = figures["kubectl"]["median_s"]
    kubectl_cpu = figures["kubectl"]["cpu_median_s"]
    summary = {
        "kubexec_over_kubectl": figures["kubexec"]["median_s"] / kubectl,
        "kubexec_cpu_over_kubectl": figures["kubexec"]["cpu_median_s"] / kubectl_cpu,
        "master_over_kubectl": figures["kubexec_master"]["median_s"] / kubectl,
        "master_cpu_over_kubectl": figures["kubexec_master"]["cpu_median_s"] / kubectl_cpu,
        "master_cpu_s": figures["kubexec_master"]["cpu_median_s"],
        "ssh_over_kubectl": figures["ssh"]["median_s"] / kubectl,
        "kubexec_cpu_s": figures["kubexec"]["cpu_median_s"],
        # the client alone (no guard started in the pod): what the guard's start-up costs
        "kubexec_no_guard_over_kubectl": figures["kubexec_no_guard"]["median_s"] / kubectl,
    }
    write_json(RESULTS, {
        "summary": summary,
        "per_call": figures,
        "where": "login pod -> compute pod of a local cluster, as the pod user",
    })
    print(f"kubexec per call: kubexec/kubectl={summary['kubexec_over_kubectl']:.2f} "
          f"cpu={summary['kubexec_cpu_over_kubectl']:.2f} "
          f"master: wall={summary['master_over_kubectl']:.2f} "
          f"cpu={summary['master_cpu_over_kubectl']:.2f} "
          f"ssh/kubectl={summary['ssh_over_kubectl']:.2f} "
          f"kubexec_cpu_s={summary['kubexec_cpu_s']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
