"""bench.scale's own parts: a run whose API server died says so; the launcher's settings pass."""

from __future__ import annotations

import os
import subprocess

import pytest

from bench.scale.__main__ import cpu_of, job_env


def test_a_process_that_is_gone_has_no_cpu_figures_instead_of_a_traceback() -> None:
    """At 1020 pods the local API server died mid-run and the bench ended in a traceback."""
    assert cpu_of(os.getpid()) is not None
    child = subprocess.Popen(["true"])
    child.wait()
    assert cpu_of(child.pid) is None


def test_the_launchers_settings_reach_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8SGO_HEARTBEAT_TIMEOUT", "900")
    monkeypatch.setenv("OTHER_SETTING", "x")
    env = job_env()
    assert env["K8SGO_HEARTBEAT_TIMEOUT"] == "900" and "OTHER_SETTING" not in env
    assert "PYTHONPATH" in env
