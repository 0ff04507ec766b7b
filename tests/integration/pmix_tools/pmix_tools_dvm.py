"""Helpers for the PMIx tools tests: the unprivileged user and a running DVM.

Kept out of conftest.py so tests can import them (this folder is on sys.path
under pytest's default import mode)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[3]
VENV = Path(sys.executable).parent.parent
USER = "mpiuser"
WAIT = 60.0


def proc_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, parent not reaping) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class ToolUser:
    """Runs commands as the unprivileged user, in a clean environment."""

    uid: int
    gid: int
    home: str

    def env(self, tmpdir: str, extra: Optional[dict[str, str]] = None) -> dict[str, str]:
        return {
            "HOME": self.home,
            "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
            "PRTE_PREFIX": str(VENV),
            "TMPDIR": tmpdir,
            "LANG": "C.UTF-8",
            **(extra or {}),
        }

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                "--", *command]

    def run(self, command: Sequence[str], tmpdir: str, env: Optional[dict[str, str]] = None,
            timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(command), env=self.env(tmpdir, env), text=True,
                              capture_output=True, timeout=timeout, check=False,
                              cwd=tmpdir)

    def popen(self, command: Sequence[str], tmpdir: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(command), env=self.env(tmpdir), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmpdir)


@dataclass
class Dvm:
    """A running `prte --daemonize` of `user`, found through `tmpdir`."""

    user: ToolUser
    tmpdir: str
    pid: int
    uri_file: str

    def run(self, command: Sequence[str], env: Optional[dict[str, str]] = None,
            timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
        return self.user.run(command, self.tmpdir, env, timeout)

    def ended(self, timeout: float = WAIT) -> bool:
        """Whether prte exits within `timeout` s (pterm returns once the DVM dropped
        its connection; prte's exit follows)."""
        deadline = time.monotonic() + timeout
        while proc_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not proc_alive(self.pid)

    def stop(self) -> None:
        """pterm, then SIGKILL as a last resort; waits until prte is gone."""
        if proc_alive(self.pid):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.run(["pterm"], timeout=WAIT)
        if not self.ended():
            os.kill(self.pid, signal.SIGKILL)


def start_dvm(user: ToolUser, tmpdir: str) -> Dvm:
    pid_file = os.path.join(tmpdir, "prte.pid")
    uri_file = os.path.join(tmpdir, "prte.uri")
    started = user.run(["prte", "--daemonize", "--report-pid", pid_file,
                        "--report-uri", uri_file], tmpdir)
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            pid = int(Path(pid_file).read_text().split()[0])
            if Path(uri_file).read_text().strip():
                return Dvm(user, tmpdir, pid, uri_file)
        except (FileNotFoundError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("prte --daemonize did not report its pid and URI")
