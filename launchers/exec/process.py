"""The completed-process record, shaped like asyncssh's `SSHCompletedProcess`.

`run()` (asyncio: `ExecSession.run`, `RemoteProcess.run`) returns one; with
`check=True` a non-zero exit raises `ProcessError`, which carries the same
fields. kubexec streams its output instead of collecting it: its record has
`stdout`/`stderr` None. No asyncio here, so kubexec can use it.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from launchers.exec.errors import ProcessError


class CompletedProcess(NamedTuple):
    """A remote command that ran to its end; `stdout`/`stderr` None when not collected."""

    command: str
    exit_status: int
    stdout: Optional[bytes] = None
    stderr: Optional[bytes] = None
    target: str = ""

    @property
    def returncode(self) -> int:
        """subprocess.CompletedProcess' name for it."""
        return self.exit_status

    def check(self) -> CompletedProcess:
        """Self if the command exited 0, else the ProcessError carrying this record."""
        if self.exit_status:
            raise ProcessError(self.command, self.exit_status, self.stdout, self.stderr,
                               self.target)
        return self


def completed(command: str, exit_status: int, stdout: Optional[bytes] = None,
              stderr: Optional[bytes] = None, target: str = "",
              check: bool = False) -> CompletedProcess:
    """The record; `check=True` raises ProcessError for a non-zero exit (asyncssh's rule)."""
    record = CompletedProcess(command, exit_status, stdout, stderr, target)
    return record.check() if check else record
