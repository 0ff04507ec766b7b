"""What other parts import from launchers.exec, and kubexec's lean import path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import launchers.exec
from launchers.exec import transport

REPO = Path(__file__).resolve().parents[3]


def test_exec_package_exports_the_transport():
    assert sorted(launchers.exec.__all__) == [
        "ExecProcess", "ExecSession", "GuardedProcess", "RemoteProcess", "open_guarded"]
    for name in launchers.exec.__all__:
        assert getattr(launchers.exec, name) is getattr(transport, name)


def test_kubexec_imports_no_heavy_modules():
    """kubexec starts once per remote daemon: asyncio, yaml (unless a kubeconfig is read),
    dataclasses and Kubernetes clients stay out of its import path."""
    code = (
        "import sys, launchers.kubexec; "
        "print(' '.join(m for m in ('asyncio', 'yaml', 'dataclasses', 'kubernetes', "
        "'aiohttp', 'argparse', 'click', 'subprocess') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
