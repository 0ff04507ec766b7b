"""Load: many concurrent kubexec sessions streaming output through one local cluster.

    python -m bench.stream          (root: it starts its own local cluster)

SESSIONS kubexec processes (default 256) start at once against an 8-pod
cluster; each streams BYTES of a known pattern (default 1 MiB) from a compute
pod, on stdout and, a tenth of it, on stderr. Every session must exit 0 with
every byte in place (length and SHA-256 on both streams), and no guard or
command may be left in any pod afterwards. Bounded: one round, a timeout.
Results: bench/results/stream.json and one line:

    stream: sessions=256 intact=256 MiB=256 wall_s=X MiB_per_s=Y left=0
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.record import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "stream.json"
CLUSTER = "kp-bench-st"
NODES = 8
SESSIONS = int(os.environ.get("BENCH_STREAM_SESSIONS", "256"))
BYTES = int(os.environ.get("BENCH_STREAM_BYTES", str(1 << 20)))
TIMEOUT = 600.0
PATTERN = b"0123456789abcdef\n"


def expected(size: int) -> tuple[int, str]:
    data = (PATTERN * (size // len(PATTERN) + 1))[:size]
    return size, hashlib.sha256(data).hexdigest()


def remote(size: int) -> str:
    """Output of `yes` cut to SIZE bytes on stdout, and a tenth of that on stderr."""
    line = PATTERN.decode().strip()
    return f"yes {line} | head -c {size}; yes {line} | head -c {size // 10} >&2"


def run(cluster: Any) -> dict[str, Any]:
    env = dict(os.environ, KUBECONFIG=cluster.kubeconfig, NAMESPACE=cluster.namespace)
    kubexec = str(Path(sys.executable).parent / "kubexec")
    start = time.perf_counter()
    procs = [
        subprocess.Popen([kubexec, cluster.compute_pods[i % NODES], remote(BYTES)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
        for i in range(SESSIONS)
    ]
    want_out, want_err = expected(BYTES), expected(BYTES // 10)
    intact, failures = 0, []
    for i, proc in enumerate(procs):
        out, err = proc.communicate(timeout=max(1.0, TIMEOUT - (time.perf_counter() - start)))
        got_out = (len(out), hashlib.sha256(out).hexdigest())
        got_err = (len(err), hashlib.sha256(err).hexdigest())
        if proc.returncode == 0 and got_out == want_out and got_err == want_err:
            intact += 1
        else:
            failures.append({"session": i, "status": proc.returncode, "stdout_bytes": len(out),
                             "stderr_bytes": len(err), "stderr_tail": err[-200:].decode(
                                 errors="replace")})
    wall = time.perf_counter() - start
    time.sleep(1)
    left = sum(len(cluster.pod_exec(pod, "pgrep -x kubexec-guard; pgrep -x yes").stdout.split())
               for pod in cluster.compute_pods)
    mib = SESSIONS * (BYTES + BYTES // 10) / (1 << 20)
    return {"sessions": SESSIONS, "bytes_per_session": BYTES, "intact": intact,
            "failures": failures[:10], "wall_s": wall, "MiB": mib, "MiB_per_s": mib / wall,
            "left_in_pods": left}


def main() -> int:
    if os.geteuid() != 0:
        print("bench.stream: needs root (it starts a local cluster)", file=sys.stderr)
        return 2
    from kube_pmix.local.cluster import Cluster, down

    down(CLUSTER)
    cluster = Cluster.up(name=CLUSTER, nodes=NODES)
    try:
        result = run(cluster)
    finally:
        down(CLUSTER)
    write_json(RESULTS, result)
    print(f"stream: sessions={result['sessions']} intact={result['intact']} "
          f"MiB={result['MiB']:.0f} wall_s={result['wall_s']:.1f} "
          f"MiB_per_s={result['MiB_per_s']:.1f} left={result['left_in_pods']}")
    return 0 if result["intact"] == SESSIONS and result["left_in_pods"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
