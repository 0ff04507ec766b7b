"""scripts/build-k8s.sh's refusals: one line and a status of its own, before any build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "build-k8s.sh"


def run(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "k8s/cri-tools", str(tmp_path / "bin")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_without_go_one_line_and_status_2(tmp_path):
    done = run({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path)
    if shutil.which("go", path="/usr/bin:/bin"):
        pytest.skip("a go in /usr/bin or /bin: this machine cannot hide Go from the script")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Go is missing" in done.stderr
    assert not (tmp_path / "bin" / "crictl").exists()


def test_without_the_module_proxy_one_line_and_status_3(tmp_path):
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed here")
    env = {"PATH": f"{Path(go).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "GOPROXY": "off", "GOMODCACHE": str(tmp_path / "empty-modcache"),
           "GOCACHE": str(tmp_path / "cache")}
    done = run(env, tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "cannot fetch the modules of k8s/cri-tools" in done.stderr
