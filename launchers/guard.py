"""`kubexec-guard`: runs in the pod and makes sure a command's process tree dies with its session.

The Kubernetes exec API forwards no signals and a dropped connection leaves the
remote process running (kubernetes #89031). kubexec therefore runs commands as
`kubexec-guard --heartbeat-timeout T -- COMMAND...` and frames the session's
stdin (see guard_protocol): data for the command, stdin EOF, heartbeats and
signals. The guard

- starts COMMAND in a new session (its own process group), with a pipe as its
  stdin and the guard's own stdout/stderr (no copying);
- is a child subreaper, so processes that escape with setsid/double fork come
  back to it as orphans and stay findable;
- relays signal records to the command's process group;
- on a kill record (kubexec gave up waiting after a signal), kills the tree;
- when heartbeats stop for T seconds or the session's stdin ends without an EOF
  record (kubexec killed, connection lost), kills the whole tree: SIGTERM, then
  SIGKILL after a grace period;
- when the command exits, gives what it left behind LINGER seconds to finish on
  its own (podman's conmon removing a `--rm` container after its rank ended),
  then ends the rest the same way and exits with the command's status (or
  128+signal).

Stdlib only and small: it starts once per remote command in every pod.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import sys
import time
from typing import TYPE_CHECKING

from launchers import guard_protocol as wire

if TYPE_CHECKING:
    from typing import Optional

PR_SET_CHILD_SUBREAPER = 36
EXIT_USAGE = 2
EXIT_LOST = 255
# How long what a finished command left behind may run on before it is ended.
LINGER = 10.0
_RELAYED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def set_subreaper() -> bool:
    """Make orphaned descendants re-parent to us instead of the pod's init."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def proc_is_ours() -> bool:
    """True if /proc shows our pid namespace (a pod may see its host's /proc)."""
    try:
        return os.readlink("/proc/self") == str(os.getpid())
    except OSError:
        return False


def descendants(root: int) -> list[int]:
    """PIDs below `root`, read from /proc (empty if /proc is not ours: never kill strangers)."""
    children: dict[int, list[int]] = {}
    if not proc_is_ours():
        return []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found.append(pid)
            todo.append(pid)
    return found


def spawn(command: list[str], stdin_fd: int) -> int:
    """Start `command` as a session leader with `stdin_fd` as its stdin; returns its pid.

    posix_spawn rather than subprocess: importing subprocess costs the guard ~10 ms
    on every remote command. Our other descriptors are close-on-exec already.
    """
    if hasattr(os, "posix_spawnp"):
        try:
            return os.posix_spawnp(
                command[0], command, dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, stdin_fd, 0)],
                setsid=True,
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores these
                setsigmask=(),
            )
        except NotImplementedError:  # a libc without POSIX_SPAWN_SETSID
            pass
    import subprocess

    proc = subprocess.Popen(command, stdin=stdin_fd, start_new_session=True, close_fds=True)
    return proc.pid


def exit_code(status: int) -> int:
    """A wait status as a shell would report it: code, or 128+signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else EXIT_LOST


class Guard:
    """The event loop: stdin records in, child's stdin pipe out, children reaped."""

    def __init__(self, command: list[str], heartbeat_timeout: float, grace: float) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self.grace = grace
        self.decoder = wire.RecordDecoder()
        self.pending = bytearray()
        self.stdin_eof = False
        self.child_status: Optional[int] = None
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.got_signals: list[int] = []
        for signo in _RELAYED:
            signal.signal(signo, self._on_signal)
        pipe_r, self.pipe_w = os.pipe()
        try:
            self.pid = spawn(command, pipe_r)
        finally:
            os.close(pipe_r)
        os.set_blocking(self.pipe_w, False)
        self.deadline = self._next_deadline()

    def _on_signal(self, signo: int, _frame: object) -> None:
        self.got_signals.append(signo)

    def _next_deadline(self) -> Optional[float]:
        if self.heartbeat_timeout <= 0:
            return None
        return time.monotonic() + self.heartbeat_timeout

    def signal_child(self, signo: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signo)

    def run(self) -> int:
        self.sel.register(0, selectors.EVENT_READ, "stdin")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        lost = False
        while self.child_status is None:
            self._update_pipe_interest()
            timeout = None
            if self.deadline is not None:
                timeout = max(0.0, self.deadline - time.monotonic())
            for key, _ in self.sel.select(timeout):
                if key.data == "stdin" and not self._read_stdin():
                    lost = True
                elif key.data == "pipe":
                    self._flush()
                elif key.data == "wake":
                    self._drain_wake()
            while self.got_signals:
                self.signal_child(self.got_signals.pop(0))
            self._reap()
            if self.deadline is not None and time.monotonic() >= self.deadline:
                lost = True
            if lost and self.child_status is None:
                self.kill_tree()
                return EXIT_LOST
        self.let_orphans_finish(LINGER)
        self.kill_tree()
        return exit_code(self.child_status)

    def let_orphans_finish(self, limit: float) -> None:
        """Wait up to `limit` s for the command's leftovers to exit by themselves."""
        end = time.monotonic() + limit
        while descendants(os.getpid()) and time.monotonic() < end:
            self._reap()
            time.sleep(0.02)

    def _update_pipe_interest(self) -> None:
        want = self.pipe_w >= 0 and bool(self.pending)
        registered = "pipe" in (k.data for k in self.sel.get_map().values())
        if want and not registered:
            self.sel.register(self.pipe_w, selectors.EVENT_WRITE, "pipe")
        elif registered and not want:
            self.sel.unregister(self.pipe_w)

    def _read_stdin(self) -> bool:
        """Handle what arrived on the session stream; False when the session is gone."""
        try:
            data = os.read(0, 65536)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return True
            data = b""
        if not data:
            self.sel.unregister(0)
            return False
        try:
            records = self.decoder.feed(data)
        except ValueError:
            return False
        self.deadline = self._next_deadline()
        for kind, payload in records:
            if kind == wire.DATA and self.pipe_w >= 0 and not self.stdin_eof:
                self.pending += payload
            elif kind == wire.EOF:
                self.stdin_eof = True
            elif kind == wire.SIGNAL and payload:
                self.signal_child(payload[0])
            elif kind == wire.KILL:
                return False
        self._flush()
        return True

    def _flush(self) -> None:
        if self.pipe_w < 0:
            return
        while self.pending:
            try:
                written = os.write(self.pipe_w, self.pending)
            except BlockingIOError:
                return
            except OSError:  # EPIPE: the command closed its stdin; drop what is left
                self.pending.clear()
                break
            del self.pending[:written]
        if self.stdin_eof:  # only reached with nothing pending (or the pipe broken)
            self._close_pipe()

    def _close_pipe(self) -> None:
        if self.pipe_w >= 0:
            if "pipe" in (k.data for k in self.sel.get_map().values()):
                self.sel.unregister(self.pipe_w)
            os.close(self.pipe_w)
            self.pipe_w = -1

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except OSError:
            pass

    def _reap(self) -> None:
        """Collect every exited child: the command, and orphans handed to us."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid:
                self.child_status = status

    def kill_tree(self) -> None:
        """TERM the command's group and every descendant, then KILL what is left."""
        self._close_pipe()
        for signo, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 5.0)):
            victims = descendants(os.getpid())
            if self.child_status is None:
                self.signal_child(signo)
            if not victims and self.child_status is not None:
                return
            for pid in victims:
                with contextlib.suppress(OSError):
                    os.kill(pid, signo)
            end = time.monotonic() + wait
            while time.monotonic() < end:
                self._reap()
                if self.child_status is not None and not descendants(os.getpid()):
                    return
                time.sleep(0.02)


def parse_args(argv: list[str]) -> tuple[float, float, list[str]]:
    """`[--heartbeat-timeout S] [--grace S] -- COMMAND...` (hand-parsed: no argparse import)."""
    timeout, grace = 20.0, 2.0
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg in ("--heartbeat-timeout", "--grace") and i + 1 < len(argv):
            value = float(argv[i + 1])
            if arg == "--grace":
                grace = value
            else:
                timeout = value
            i += 2
        elif arg.startswith("-"):
            raise ValueError(f"unknown option {arg}")
        else:
            break
    command = argv[i:]
    if not command:
        raise ValueError("no command given")
    return timeout, grace, command


USAGE = (
    "usage: kubexec-guard [--heartbeat-timeout SECONDS] [--grace SECONDS] -- COMMAND...\n"
    "Runs COMMAND for kubexec; stdin must carry kubexec's framed records.\n"
)


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    try:
        timeout, grace, command = parse_args(args)
    except ValueError as exc:
        sys.stderr.write(f"kubexec-guard: {exc}\n{USAGE}")
        return EXIT_USAGE
    set_subreaper()
    try:
        guard = Guard(command, timeout, grace)
    except OSError as exc:
        sys.stderr.write(f"kubexec-guard: cannot run {command[0]}: {exc.strerror}\n")
        return 127 if exc.errno == errno.ENOENT else 126
    return guard.run()


if __name__ == "__main__":
    sys.exit(main())
