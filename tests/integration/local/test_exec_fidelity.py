"""Many short `kubectl exec` sessions with output: every byte of stdout and stderr arrives.

kubectl (client-go's WebSocket executor) starts reading the connection in one
goroutine while another creates its streams; a message that comes first is
dropped with `websocket.go] Unknown stream id N, discarding message`. Seen once
in 256 sessions of a 128-pod launch. What it drops is the empty message a
kubelet sends on the lowest writable channel right after the upgrade (the
"connection established" notice, which ours sends too): our server sends a
stream's data only once the process wrote it (after nsenter, the pod's shell...),
and the status only after both output pipes ended, so no data goes before the
client's streams or after they closed. This test shows that, concurrently, with
kubectl as the referee: a dropped data message would be a missing line here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.cluster

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed", allow_module_level=True)

SESSIONS = 100
PARALLEL = 8  # a launch's burst, bounded (2 cores)
KLOG = re.compile(r"^[EWI]\d{4} [^\n]*\n?", re.M)  # kubectl's own log lines on stderr


def expected(i: int) -> tuple[str, str]:
    """~3 KB of stdout and ~2 KB of stderr, every line naming its session."""
    return ("".join(f"o{i}-{k}\n" for k in range(1, 301)),
            "".join(f"e{i}-{k}\n" for k in range(1, 201)))


def test_every_byte_of_many_short_sessions_arrives(local_cluster, tmp_path):
    env = dict(os.environ, KUBECACHEDIR=str(tmp_path / "cache"))
    pods = local_cluster.compute_pods

    def session(i: int) -> subprocess.CompletedProcess[str]:
        command = f'seq -f "o{i}-%g" 1 300; seq -f "e{i}-%g" 1 200 >&2'
        return subprocess.run(
            ["kubectl", "--kubeconfig", local_cluster.kubeconfig, "exec",
             pods[i % len(pods)], "--", "/bin/sh", "-c", command],
            capture_output=True, text=True, timeout=120, env=env)

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(session, range(SESSIONS)))
    lost, notices = [], 0
    for i, result in enumerate(results):
        out, err = expected(i)
        logs = KLOG.findall(result.stderr)
        notices += sum("Unknown stream id" in line for line in logs)
        if (result.returncode, result.stdout, KLOG.sub("", result.stderr)) != (0, out, err):
            lost.append((i, result.returncode, len(result.stdout), len(out), logs))
    assert not lost, f"sessions with missing or extra output (of {SESSIONS}): {lost[:5]}"
    # Dropped notices are harmless (empty) and depend on scheduling: counted, not asserted.
    print(f"{SESSIONS} sessions intact; {notices} empty notices dropped by kubectl")
