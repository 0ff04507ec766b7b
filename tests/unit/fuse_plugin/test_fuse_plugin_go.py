"""Our fuse device plugin's own Go tests (fuse-plugin/main_test.go): registration with a
kubelet's Registration service, the slots and their health, allocations, over real gRPC
on unix sockets. The plugin on the real kubelet: tests/e2e/test_real_k8s_variants.py."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kube_pmix.vcluster.paths import repo_root


def test_the_plugin_registers_lists_and_allocates() -> None:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go",
                                                                      os.X_OK) else None)
    if go is None:
        pytest.skip("needs Go (make fuse-plugin)")
    done = subprocess.run([go, "test", "-count=1", "./..."], cwd=repo_root() / "fuse-plugin",
                          env={**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"},
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.stdout.startswith("ok"), done.stdout
