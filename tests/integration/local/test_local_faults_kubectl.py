"""The exec fault switch on a real cluster, read by real kubectl (WebSocket, then its SPDY
fallback)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.cluster

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed", allow_module_level=True)


def kubectl_exec(cluster, pod: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", cluster.kubeconfig, "exec", pod, "--",
                           "hostname"], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("code", "reason", "message"), [
    (429, "TooManyRequests", "Too many requests, please try again later."),
    (503, "ServiceUnavailable", "service unavailable"),
])
def test_every_other_exec_is_refused_and_kubectl_prints_the_status(cluster_factory, code,
                                                                   reason, message):
    cluster = cluster_factory(nodes=1, exec_errors={code: 0.5})
    pod = cluster.compute_pods[0]
    served, refused = kubectl_exec(cluster, pod), kubectl_exec(cluster, pod)
    assert (served.returncode, served.stdout) == (0, f"{pod}\n"), served.stderr
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"Error from server ({reason}): {message}"
    assert kubectl_exec(cluster, pod).returncode == 0  # the pattern goes on: served again

