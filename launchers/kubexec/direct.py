"""kubexec's direct path: one process, one connection to the API server.

The contract callers get (ssh's) is described in launchers.kubexec, the entry
point that picks this path or the control master. This module and
launchers.kubexec are the only places that print and pick exit statuses. PRRTE
starts kubexec once per daemon, so this path is kept lean: no argparse/click,
no Kubernetes client, no asyncio (exec.blocking and one select loop instead).
With a control master (launchers.kubexec.control.client) the same `main()` runs in a
process forked from the warm master, on the caller's fds.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import sys
import time
from typing import Mapping, Optional

from launchers.exec import guardwire as wire
from launchers.exec import hosts
from launchers.exec.blocking import Client, Session
from launchers.exec.config import load_config
from launchers.exec.errors import KubeExecError
from launchers.exec.process import CompletedProcess, completed
from launchers.exec.protocol import MAX_MESSAGE
from launchers.kubexec.output import OutputBuffer
from launchers.kubexec.sshopts import Options, UsageError, parse_args

EXIT_FAILURE = 255  # as ssh: could not run the command remotely
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_READ_EV, _WRITE_EV = selectors.EVENT_READ, selectors.EVENT_WRITE
_READ = 32 * 1024 - 64  # one stdin read fits one message with its record header

USAGE = """\
usage: kubexec [ssh options] [--namespace NS] [--container NAME] [--no-guard]
               [--kubeconfig FILE] [--context NAME] [--guard CMD] [user@]HOST [COMMAND...]

Run COMMAND in pod HOST through the Kubernetes exec API, the way ssh would:
the words are joined with spaces and run by /bin/sh -c; stdin/stdout/stderr
are forwarded; the exit status is the command's; 255 if the pod cannot be
reached (one line on stderr says why). Without COMMAND, /bin/sh reads stdin.
The command runs under kubexec-guard in the pod: signals sent to kubexec are
forwarded, and if kubexec dies, its parent (the launcher) dies, the connection
drops, or the command exits, its whole process tree is ended (use --no-guard to leave background
processes running).

HOST: a pod name, POD.SERVICE, POD.SERVICE.NAMESPACE[.svc.cluster.local], or a pod IP.

ssh options are accepted for compatibility (-x -T -t -q -4 -6 -A -C -p PORT
-l USER -i FILE -F FILE -c CIPHER ...; -t allocates no terminal). Those that
matter here:
  -n                    stdin from /dev/null
  -q                    quiet (no debug output)
  -v                    debug lines on stderr
  -o ConnectTimeout=N   give up reaching the API server after N seconds

kubexec's own options:
  --namespace NS        namespace when HOST names none (else $NAMESPACE, then the
                        kubeconfig context's, then the in-cluster one)
  --container NAME      container (else $KUBEXEC_CONTAINER, else the pod's default)
  --kubeconfig FILE     else $KUBECONFIG, ~/.kube/config, then in-cluster config
  --context NAME        kubeconfig context (else current-context)
  --no-guard            plain exec, for pods without kubexec-guard ($KUBEXEC_NO_GUARD=1).
                        Then signals are not forwarded and a killed kubexec leaves
                        the remote command running, as with kubectl exec.
  --guard CMD           the guard's command in the pod ($KUBEXEC_GUARD, kubexec-guard)

Environment (seconds; a value that is not a number is refused):
  KUBEXEC_HEARTBEAT_INTERVAL  default 5. 0 sends no heartbeats, and then the guard is
                        started with --heartbeat-timeout 0 (no deadline): a killed
                        kubexec is then noticed only when the connection drops.
  KUBEXEC_HEARTBEAT_TIMEOUT   default 20: the guard kills the remote tree after this
                        long without a heartbeat (and exits 255; kubexec says so).
                        Heartbeats keep flowing while stdout is not drained.
  KUBEXEC_CONNECT_TIMEOUT     default 20 (or -o ConnectTimeout=N): per connection.
  KUBEXEC_RETRY_DEADLINE      default: the connect timeout. Refused or reset
                        connections, broken TLS handshakes and HTTP 429/5xx answers
                        to the exec request are retried (backoff with jitter,
                        Retry-After honoured) until this long after start. Once the
                        server accepted the exec, nothing is retried: a command is
                        never started twice.
  KUBEXEC_SIGNAL_WAIT         default 3: how long to wait for the remote exit after
                        forwarding a signal.
  KUBEXEC_CONTROL_PERSIST     default 0 (off). N > 0 (finite): one warm control master per
                        user (as ssh's ControlMaster/ControlPersist): each kubexec
                        hands its stdin/stdout/stderr to it over a private unix
                        socket and costs a fraction of a direct call; the master
                        starts on demand and exits after N idle seconds. When it
                        cannot be used, kubexec connects directly.
"""


_NUMERIC_ENV = ("KUBEXEC_HEARTBEAT_INTERVAL", "KUBEXEC_HEARTBEAT_TIMEOUT",
                "KUBEXEC_CONNECT_TIMEOUT", "KUBEXEC_RETRY_DEADLINE", "KUBEXEC_SIGNAL_WAIT",
                "KUBEXEC_CONTROL_PERSIST")


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds from the environment; garbage is refused, not silently replaced."""
    text = env.get(name, "")
    if not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"bad {name} value {text!r} (a number of seconds >= 0)")
    return value


def check_env(env: Mapping[str, str]) -> None:
    """Refuse bad numeric settings before anything is started."""
    for name in _NUMERIC_ENV:
        _env_float(env, name, 0.0)


class Runner:
    """One kubexec invocation: connect, then one select loop over socket, stdin and signals."""

    def __init__(self, opts: Options, env: Mapping[str, str], watch_parent: bool = True) -> None:
        self.opts = opts
        self.env = env
        self.guarded = not (opts.no_guard or env.get("KUBEXEC_NO_GUARD", "") not in ("", "0"))
        self.t0 = time.monotonic()
        self.signals: list[int] = []
        self.last_signal = int(signal.SIGTERM)
        self.session: Optional[Session] = None
        self.draining = False
        self.stdout = OutputBuffer(1)
        self.stderr = OutputBuffer(2)
        self.heartbeat_timeout = _env_float(env, "KUBEXEC_HEARTBEAT_TIMEOUT", 20.0)
        self.parent = os.getppid() if watch_parent else None
        self.wake_r, wake_w = os.pipe()
        for fd in (self.wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        for signo in _SIGNALS:
            signal.signal(signo, self._on_signal)

    def _on_signal(self, signo: int, _frame: object) -> None:
        self.signals.append(signo)
        if self.session is None or self.draining:  # nothing remote to wait for
            raise _Interrupted(signo)

    def debug(self, text: str) -> None:
        if self.opts.verbose and not self.opts.quiet:
            elapsed = (time.monotonic() - self.t0) * 1000
            with contextlib.suppress(BlockingIOError):  # fd 2 may be non-blocking now
                sys.stderr.write(f"kubexec: debug: {elapsed:.0f} ms: {text}\n")
                sys.stderr.flush()

    def connect(self) -> Session:
        opts, env = self.opts, self.env
        config = load_config(opts.kubeconfig, opts.context, env)
        self.debug(f"API server {config.server} ({config.source})")
        timeout = opts.connect_timeout or _env_float(env, "KUBEXEC_CONNECT_TIMEOUT", 20.0)
        retry_deadline = _env_float(env, "KUBEXEC_RETRY_DEADLINE", timeout)
        client = Client(config, connect_timeout=timeout, retry_deadline=retry_deadline)
        namespace = opts.namespace or env.get("NAMESPACE") or config.namespace
        pod, namespace = hosts.resolve_sync(opts.host, client.get_json, namespace)
        command = opts.remote_command
        if self.guarded:
            # No heartbeats (interval 0) => the guard must keep no deadline (0) either.
            beats = _env_float(env, "KUBEXEC_HEARTBEAT_INTERVAL", 5.0) > 0
            command = wire.guard_argv(
                command,
                self.heartbeat_timeout if beats else 0,
                opts.guard or env.get("KUBEXEC_GUARD") or wire.GUARD_COMMAND,
            )
        session = client.open_exec(
            pod, command, namespace=namespace,
            container=opts.container or env.get("KUBEXEC_CONTAINER") or None,
            stdin=self.guarded or not opts.no_stdin, stdout=self.stdout, stderr=self.stderr,
            # Guarded or not, a session that ends without a status was cut (e.g. the
            # exec idle timeout), never a success: see exec.core.ExecCore.exit_status.
            require_status=True,
        )
        self.debug(f"exec started in {namespace}/{pod} ({session.protocol})")
        return session

    def run(self) -> CompletedProcess:
        """The remote command's record (output streamed, so not collected)."""
        command = " ".join(self.opts.command)
        try:
            try:
                self.session = self.connect()
            except _Interrupted as exc:
                return completed(command, 128 + exc.signo)
            try:
                status = self._loop(self.session)
            finally:
                self.session.close()
            try:
                self.draining = True  # a signal now ends the wait for a stalled reader
                for out in (self.stdout, self.stderr):
                    out.finish()
            except _Interrupted as exc:
                status = 128 + exc.signo
            return completed(command, status, target=self.session.pod)
        finally:
            # Whatever happened: drop what is left and give the fds their blocking mode back
            # (O_NONBLOCK is shared with every process holding the same pipe).
            for out in (self.stdout, self.stderr):
                out.broken = True
                out.finish()

    def _send_stdin(self, session: Session, data: bytes) -> None:
        if not self.guarded:
            if data:
                session.write_stdin(data)
            else:
                session.close_stdin()
        elif data:
            for record in wire.data_records(data, MAX_MESSAGE - 1):
                session.write_stdin(record)
        else:
            session.write_stdin(wire.encode(wire.EOF))

    def _loop(self, session: Session) -> int:
        sel = selectors.DefaultSelector()
        interest: dict[int, int] = {}  # fd -> the events we select it for now
        self._select_for(sel, interest, self.wake_r, "wake", _READ_EV)
        stdin_open = not self.opts.no_stdin
        stdin_pollable = stdin_open and _pollable(0)  # else a file: reads never block
        if not stdin_open:
            self._send_stdin(session, b"")
        interval = _env_float(self.env, "KUBEXEC_HEARTBEAT_INTERVAL", 5.0)
        beat = time.monotonic() if self.guarded and interval > 0 else None
        give_up: Optional[float] = None
        outputs = (self.stdout, self.stderr)
        while True:
            now = time.monotonic()
            if beat is not None and now >= beat:
                session.write_stdin(wire.encode(wire.HEARTBEAT))
                beat = now + interval
                if self.parent is not None and os.getppid() != self.parent and give_up is None:
                    # Our launcher died without killing us (prterun after an abort,
                    # a crashed prted): its remote daemon must not outlive it.
                    self.debug("parent process gone: ending the remote command")
                    self.signals.append(int(signal.SIGHUP))
            # Flow control both ways, never a blocked call: a full output buffer stops
            # socket reads, a backlogged socket stops stdin reads; heartbeats and
            # signals go on (they queue behind what waits).
            want_stdin = stdin_open and not session.backlogged
            if stdin_pollable:
                self._select_for(sel, interest, 0, "stdin", _READ_EV if want_stdin else 0)
            net = 0 if any(out.full for out in outputs) else _READ_EV
            self._select_for(sel, interest, session.fileno(), "net",
                             net | (_WRITE_EV if session.wants_write() else 0))
            for out in outputs:
                self._select_for(sel, interest, out.fd, out, _WRITE_EV if out.pending else 0)
            deadlines = [t for t in (beat, give_up) if t is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            if session.has_buffered() or (want_stdin and not stdin_pollable):
                timeout = 0
            ready = {key.data: events for key, events in sel.select(timeout)}
            if session.has_buffered():
                ready["net"] = ready.get("net", 0) | _READ_EV
            if want_stdin and not stdin_pollable:
                ready["stdin"] = _READ_EV
            for out in outputs:
                if out in ready:
                    out.flush()
            if ready.get("net", 0) & _WRITE_EV:
                session.on_writable()
            if ready.get("net", 0) & _READ_EV and not session.on_readable():
                status = session.exit_status()
                self.debug(f"remote exit status {status}")
                return status
            if self.stdout.broken:  # our reader left (`kubexec pod yes | head -1`): end it all
                if self.guarded:
                    self._kill_and_linger(session)
                return 128 + signal.SIGPIPE
            if "stdin" in ready:
                try:
                    data = os.read(0, _READ)
                except OSError:
                    data = b""
                self._send_stdin(session, data)
                if not data:
                    stdin_open = False
            if "wake" in ready:
                with contextlib.suppress(OSError):
                    os.read(self.wake_r, 512)
            while self.signals:
                signo = self.signals.pop(0)
                self.debug(f"signal {signo}")
                if not self.guarded:
                    return 128 + signo
                session.write_stdin(wire.signal_record(signo))
                if give_up is None:
                    self.last_signal = signo
                    give_up = time.monotonic() + _env_float(self.env, "KUBEXEC_SIGNAL_WAIT", 3.0)
            if give_up is not None and time.monotonic() >= give_up:
                self._kill_and_linger(session)  # don't wait for the heartbeat timeout
                return 128 + self.last_signal

    def _kill_and_linger(self, session: Session) -> None:
        """Send the kill record, then read until the session ends (bounded by the signal wait).

        Closing at once, with the remote output still flowing in, makes our kernel answer
        with a reset, and the server may then drop the kill record unread: the remote
        command (`yes`) would run on until the heartbeat timeout. The record may also wait
        behind stdin the peer has not taken yet: it is written as the socket takes it.
        """
        session.write_stdin(wire.encode(wire.KILL))
        end = time.monotonic() + _env_float(self.env, "KUBEXEC_SIGNAL_WAIT", 3.0)
        self.stdout.broken = self.stderr.broken = True  # what still comes is dropped
        with contextlib.suppress(KubeExecError):
            sel = selectors.DefaultSelector()
            sel.register(session.fileno(), _READ_EV)
            while time.monotonic() < end:
                sel.modify(session.fileno(), _READ_EV | (_WRITE_EV if session.wants_write() else 0))
                for _key, events in sel.select(max(0.0, end - time.monotonic())):
                    if events & _WRITE_EV:
                        session.on_writable()
                    if events & _READ_EV and not session.on_readable():
                        return

    @staticmethod
    def _select_for(sel: selectors.BaseSelector, interest: dict[int, int], fd: int,
                    data: object, events: int) -> None:
        """(Un)register `fd` so the selector watches it for exactly `events` (0: not at all)."""
        have = interest.get(fd, 0)
        if events == have:
            return
        if not events:
            sel.unregister(fd)
            del interest[fd]
        elif have:
            sel.modify(fd, events, data)
            interest[fd] = events
        else:
            try:
                sel.register(fd, events, data)
            except KeyError:  # the same fd already watched for another event (a tty on 0 and 1)
                return
            interest[fd] = events


def _pollable(fd: int) -> bool:
    """Whether select can watch `fd` (a regular file or /dev/null cannot be: reads never block)."""
    probe = selectors.DefaultSelector()
    try:
        probe.register(fd, _READ_EV)
    except (OSError, ValueError):
        return False
    finally:
        probe.close()
    return True


class _Interrupted(Exception):
    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def main(argv: Optional[list[str]] = None, watch_parent: bool = True,
         master_note: str = "") -> int:
    """`watch_parent=False` in a control master's child: the caller watches its own parent.
    `master_note`: why no control master took this call (said with -v)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        opts = parse_args(args)
    except UsageError as exc:
        sys.stderr.write(f"kubexec: {exc} (kubexec --help for usage)\n")
        return EXIT_FAILURE
    if opts.help:
        sys.stdout.write(USAGE)
        return 0
    if opts.version:
        sys.stdout.write("kubexec 0.1.0\n")
        return 0
    try:
        check_env(os.environ)
    except UsageError as exc:
        sys.stderr.write(f"kubexec: {exc}\n")
        return EXIT_FAILURE
    try:
        runner = Runner(opts, os.environ, watch_parent)
        if master_note:
            runner.debug(f"control master not used: {master_note}")
        result = runner.run()
    except KubeExecError as exc:
        sys.stderr.write(f"kubexec: {_one_line(exc, opts.host)}\n")
        return EXIT_FAILURE
    if runner.guarded and result.exit_status == EXIT_FAILURE:
        # The guard exits 255 when it ended the tree itself: say so, it is not the command's.
        sys.stderr.write(
            f"kubexec: {result.target or opts.host}: remote command ended with status 255: "
            f"kubexec-guard kills the tree when no heartbeat came for "
            f"{runner.heartbeat_timeout:g} s or the session's stdin broke "
            "(or the command itself exited 255)\n"
        )
    return result.exit_status


def _one_line(exc: KubeExecError, host: str) -> str:
    if not exc.target:
        exc.target = host
    text = " ".join(str(exc).split())
    if "kubexec-guard" in text and ("not found" in text or "no such file" in text.lower()):
        text += " (install kubexec-guard in the pod, or use --no-guard)"
    return text


if __name__ == "__main__":
    sys.exit(main())
