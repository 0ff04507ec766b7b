"""What other parts import from launchers.exec, and kubexec's lean import path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import launchers.exec
from launchers.exec import errors, transport

REPO = Path(__file__).resolve().parents[3]


def test_exec_package_exports_the_transport():
    assert sorted(launchers.exec.__all__) == sorted([
        "ExecProcess", "ExecSession", "GuardedProcess", "RemoteProcess", "open_guarded",
        "CompletedProcess", "ClusterConfig", "load_config",
        "KubeExecError", "ConfigError", "HostNotFound", "ApiError", "Unauthorized", "Forbidden",
        "PodNotFound", "PodNotRunning", "ConnectionFailed", "ConnectionLost", "ProtocolError",
        "ProcessError"])
    for name in ("ExecProcess", "ExecSession", "GuardedProcess", "RemoteProcess",
                 "open_guarded"):
        assert getattr(launchers.exec, name) is getattr(transport, name)
    assert launchers.exec.ProcessError is errors.ProcessError
    assert issubclass(launchers.exec.ProcessError, launchers.exec.KubeExecError)


def test_kubexec_imports_no_heavy_modules():
    """kubexec starts once per remote daemon: asyncio, yaml (unless a kubeconfig is read),
    dataclasses and Kubernetes clients stay out of its import path."""
    code = (
        "import sys, launchers.kubexec, launchers.kubexec.direct; "
        "print(' '.join(m for m in ('asyncio', 'yaml', 'dataclasses', 'kubernetes', "
        "'aiohttp', 'argparse', 'click', 'subprocess') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_kubexec_with_a_control_master_imports_only_builtins():
    """The control client is what each call costs with KUBEXEC_CONTROL_PERSIST: no ssl, no
    exec client, not even socket/signal (enum) or typing."""
    code = (
        "import sys, launchers.kubexec, launchers.kubexec.control.client; "
        "print(' '.join(m for m in ('ssl', 'socket', 'signal', 'enum', 'typing', 'contextlib', "
        "'json', 'launchers.exec', 'launchers.kubexec.direct') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
