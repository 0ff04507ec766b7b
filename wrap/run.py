"""Start the planned runtime so that signals reach the rank and its status comes back.

podman: wrap.supervise (a child in its own process group; we signal the rank).

docker: a child, because its env-file must be removed afterwards; we forward
the catchable signals to it (docker proxies them on) and return its status.
"""

from __future__ import annotations

import os

from .errors import NoRuntimeError
from .settings import ENV_FILE, Plan

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Mapping, Optional

# What a launcher or a terminal may send; SIGKILL and SIGSTOP cannot be caught.
# Names, not numbers: they are looked up in whichever signal module the caller uses.
FORWARDED_SIGNALS = (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGCONT", "SIGWINCH",
)


def status_of(wait_status: int) -> int:
    """Shell convention: the exit code, or 128 + the signal that ended the process."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


def env_file_dir(environ: Mapping[str, str]) -> Optional[str]:
    """A private tmpfs when there is one (XDG_RUNTIME_DIR): nothing reaches a disk."""
    runtime_dir = environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and os.path.isdir(runtime_dir) and os.access(runtime_dir, os.W_OK):
        return runtime_dir
    return None


def run_with_env_file(plan: Plan) -> int:
    """Write the env-file (0600), run the runtime as a child, remove the file; its status.

    Signal handlers go in first, so a signal at any point either reaches the
    child or waits for it, and the file is removed whatever happens (bar SIGKILL;
    it lives in XDG_RUNTIME_DIR, a per-user tmpfs, when there is one).
    """
    import signal
    import tempfile  # docker only: keep the podman path's start lean

    pending: list[int] = []
    child = 0

    def forward(signum: int, _frame: object) -> None:
        if child:
            _kill(child, signum)
        else:
            pending.append(signum)

    signals = [getattr(signal, name) for name in FORWARDED_SIGNALS]
    previous = {sig: signal.signal(sig, forward) for sig in signals}
    try:
        fd, path = tempfile.mkstemp(prefix="wrap-env.", dir=env_file_dir(plan.env))
        try:
            # mkstemp creates it 0600 already; say so for readers, whatever the umask
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(plan.env_file or "")
            try:
                argv = plan.resolved_argv({ENV_FILE: path})
                child = os.posix_spawn(plan.runtime, argv, dict(plan.env))
            except OSError as exc:
                raise NoRuntimeError(f"cannot run {plan.runtime}: {exc.strerror}") from exc
            for signum in pending:  # arrived while we were getting ready
                _kill(child, signum)
            _, wait_status = os.waitpid(child, 0)
            return status_of(wait_status)
        finally:
            remove_file(path)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def remove_file(path: str) -> None:
    """Unlink, if it is there (a runner's file that may never have been made)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:  # it has just exited
        return
