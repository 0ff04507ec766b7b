"""Run podman as our child and hand the launcher's signals to the rank itself.

Why not exec podman and let its --sig-proxy relay them: podman 4.3 (Debian 12's)
relays only once it has attached, and a SIGTERM before that, even after the rank
has started printing, ends podman with status 0 and leaves the container running.
On a loaded 2-core machine that was 6 runs in 30, one SIGTERM each: a rank the
launcher killed kept running, reported as a success. So:

- podman runs in a process group of its own, out of reach of the signals a
  launcher sends to ours, and never receives one from us (at a terminal, where
  a background group could not write, it shares ours: see _at_a_terminal);
- it writes the rank's pid (--pidfile) and the container's id (--cidfile) to a
  private directory; a signal we catch goes to that pid (--pid=host: it is a pid
  of this namespace); one that comes before the file, or while runc has created
  the container but not yet started it, waits (a timer polls every 20 ms, only
  while a signal waits);
- when the rank runs as an id we may not signal (rootless podman without
  keep-id maps it to a subordinate uid), `podman kill --cidfile` delivers it;
- podman's status is ours, so the rank's exit status comes back unchanged.

SIGKILL cannot be caught: it ends this process and not the rank, as it ended
podman and not the rank when wrap-container exec'd podman.
"""

from __future__ import annotations

# The C module: `signal` imports enum (~10 ms per rank), which nothing here needs.
import _signal
import os

from .errors import BadSettingError, NoRuntimeError
from .run import FORWARDED_SIGNALS, env_file_dir, remove_file, status_of
from .settings import CID_FILE, PID_FILE, Plan

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Optional

POLL_S = 0.02  # how often a waiting signal looks for the rank's pid file


class _Rank:
    """The rank podman started: its pid once podman has written it, whether it runs
    yet, and the signals that came before."""

    def __init__(self, runtime: str, env: dict[str, str]) -> None:
        self.runtime = runtime
        self.env = env
        self.folder: Optional[str] = None  # podman's two files go there, once it exists
        self.pid: Optional[int] = None
        self.started = False
        self.waiting: list[int] = []

    @property
    def pid_file(self) -> str:
        return os.path.join(self.folder or "", "pid")

    @property
    def cid_file(self) -> str:
        return os.path.join(self.folder or "", "cid")

    def _read_pid(self) -> Optional[int]:
        if self.pid is None and self.folder is not None:
            try:
                with open(self.pid_file, encoding="ascii") as fh:
                    text = fh.read().strip()
            except OSError:
                return None
            # podman writes it once runc has created the container; a torn read is "not yet"
            self.pid = int(text) if text.isdigit() and int(text) > 0 else None
        return self.pid

    def signal(self, signum: int) -> None:
        """Deliver now if the rank's pid is known, else keep it for the timer."""
        self.waiting.append(signum)
        self.flush()

    def _started(self, pid: int) -> bool:
        """Has the runtime let the rank run? podman writes the pid file when runc has
        created the container: its init then waits, named "runc:[2:INIT]", for
        `runc start`, and a signal it gets then fails the start (podman says `runc
        start ... failed` and exits 126) instead of reaching the rank's command."""
        if not self.started:
            try:
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
                    self.started = not fh.read().startswith("runc:[")
            except OSError:
                self.started = True  # gone, or hidden from us: deliver, and see
        return self.started

    def flush(self) -> None:
        pid = self._read_pid()
        if pid is None or not self._started(pid):
            _signal.setitimer(_signal.ITIMER_REAL, POLL_S, POLL_S)
            return
        _signal.setitimer(_signal.ITIMER_REAL, 0, 0)
        waiting, self.waiting = self.waiting, []
        for signum in waiting:
            self._deliver(pid, signum)

    def _deliver(self, pid: int, signum: int) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return  # the rank has ended; podman is cleaning up and will exit
        except PermissionError:
            self._podman_kill(signum)

    def _podman_kill(self, signum: int) -> None:
        argv = [self.runtime, "kill", "--signal", str(signum), "--cidfile", self.cid_file]
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            # its output would mix with the rank's: a rank that ended meanwhile makes
            # podman say "no such container", which is no news to the launcher
            pid = os.posix_spawn(self.runtime, argv, self.env,
                                 file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1),
                                               (os.POSIX_SPAWN_DUP2, devnull, 2)])
            os.waitpid(pid, 0)
        except OSError:
            return  # no runtime to ask: the signal is lost, as it would be with podman's
        finally:
            os.close(devnull)


def run_podman(plan: Plan) -> int:
    """Run the plan's podman as a child, relay signals to the rank; podman's status."""
    env = dict(plan.env)
    rank = _Rank(plan.runtime, env)
    signals = [getattr(_signal, name) for name in FORWARDED_SIGNALS]
    # handlers first: a signal from here on reaches the rank or waits for it
    previous = {sig: _signal.signal(sig, lambda signum, _: rank.signal(signum))
                for sig in signals}
    previous[_signal.SIGALRM] = _signal.signal(_signal.SIGALRM, lambda *_: rank.flush())
    try:
        rank.folder = _private_dir(env_file_dir(env) or "/tmp")
        argv = plan.resolved_argv({PID_FILE: rank.pid_file, CID_FILE: rank.cid_file})
        try:
            if _at_a_terminal():
                child = os.posix_spawn(plan.runtime, argv, env, setsigdef=(_signal.SIGPIPE,))
            else:  # a process group of its own (0: a new one, led by podman)
                child = os.posix_spawn(plan.runtime, argv, env, setsigdef=(_signal.SIGPIPE,),
                                       setpgroup=0)
        except OSError as exc:
            raise NoRuntimeError(f"cannot run {plan.runtime}: {exc.strerror}") from exc
        _, wait_status = os.waitpid(child, 0)
        return status_of(wait_status)
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0, 0)
        for sig, handler in previous.items():
            _signal.signal(sig, handler)
        if rank.folder is not None:
            _remove_dir(rank.folder)


def _at_a_terminal() -> bool:
    """Are we the foreground job of the terminal our stdio is on (a user typing, not a
    launcher)? Then podman shares our process group: a background group writing to the
    terminal is stopped (SIGTTOU under `stty tostop`). The terminal's own signals
    (Ctrl-C) then reach podman too, as they did when wrap-container exec'd it."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


def _private_dir(base: str) -> str:
    """A new 0700 directory for podman's two files (mkdir fails on an existing name,
    so nobody can have planted a link there)."""
    for attempt in range(100):
        path = os.path.join(base, f"wrap-{os.getpid()}-{attempt}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise BadSettingError(
                f"cannot make a directory in {base}: {exc.strerror} "
                "(set XDG_RUNTIME_DIR to a writable directory)"
            ) from exc
    raise BadSettingError(f"cannot make a directory in {base}: 100 names taken")


def _remove_dir(folder: str) -> None:
    for name in ("pid", "cid"):  # either may be missing: the rank did not start
        remove_file(os.path.join(folder, name))
    try:
        os.rmdir(folder)
    except OSError:
        return
