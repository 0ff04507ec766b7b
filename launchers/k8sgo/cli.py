"""`k8sgo-launcher` (alias `basic_launcher`): the CLI; it alone prints and picks exit statuses.

Called by PRRTE's plm/k8sgo as `k8sgo-launcher [-q] -f HOSTFILE -- PRTED ARGV...`.
Everything before `--` is ours (click); everything after it is the daemon's
argv and is never parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import sys
import time
from typing import Any, Callable, Optional, Sequence

import click

from launchers.k8sgo import hostfile
from launchers.k8sgo import trace as ev
from launchers.k8sgo.errors import (
    HostfileError,
    LauncherError,
    NoCredentials,
    UnknownHost,
    Unreachable,
    UsageError,
)
from launchers.k8sgo.fanout import END_WAIT, Fanout, Outcome
from launchers.k8sgo.output import Output, both_ready
from launchers.k8sgo.settings import DEFAULT_SSH_PORT, Settings
from launchers.k8sgo.transports.base import Transport
from launchers.k8sgo.workers import auto_workers, run_workers, shards

PROG = "k8sgo-launcher"
EXIT_OK = 0
EXIT_DAEMON_FAILED = 1
EXIT_USAGE = 2
EXIT_HOSTFILE = 3
EXIT_UNKNOWN_HOST = 4
EXIT_NO_CREDENTIALS = 5
EXIT_UNREACHABLE = 6
_EXIT_FOR: dict[type, int] = {
    UsageError: EXIT_USAGE,
    HostfileError: EXIT_HOSTFILE,
    UnknownHost: EXIT_UNKNOWN_HOST,
    NoCredentials: EXIT_NO_CREDENTIALS,
    Unreachable: EXIT_UNREACHABLE,
}
DEFAULTS = Settings()
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# With --detachable: end every session, leave the daemons running (plm/k8sgo sends it).
DETACH_SIGNAL = signal.SIGUSR1
# How long our daemons' output may still take to reach a slow reader once all have ended.
FLUSH_WAIT = 5.0
# After a set-up step that timed out: which setting bounds it.
TIMEOUT_HINT = " (each step's bound: --connect-timeout, K8SGO_CONNECT_TIMEOUT)"

EPILOG = f"""\b
Daemon i (0-based hostfile line) runs PRTED ARGV... unchanged with
PRTE_ESS_K8SGO_ID=i in its environment, under kubexec-guard in its pod.
Hostfile: one host per line (pod name, pod.service[.namespace[.svc...]] or
pod IP), blank lines and # comments skipped, tokens after the host (slots=4)
ignored, a duplicate host refused. Daemons' stdout/stderr pass through
unchanged; -q silences our progress lines, never errors or daemon output.
The first failure ends every other daemon (unless --keep-going); SIGTERM,
SIGINT and SIGHUP end them all and the launcher exits within 5 s.
With --lifeline-fd (plm/k8sgo passes one) any daemon exit, status 0 too,
is a failure until the lifeline's EOF; after it the daemons get {END_WAIT:g} s
to exit by themselves before they are ended.
With --detachable, SIGUSR1 detaches: every guard ends its session with
status 0 and leaves its daemon running (plm/k8sgo sends it once PRRTE's
daemons are wired up, with plm_k8sgo_detach); the launcher then exits 0.

\b
Exit statuses:
  {EXIT_OK}    every daemon exited 0
  {EXIT_DAEMON_FAILED}    a daemon failed (one line per failed host on stderr)
  {EXIT_USAGE}    bad usage: unknown flag, missing `--`, no command
  {EXIT_HOSTFILE}    hostfile missing, unreadable, empty, or a duplicate host
  {EXIT_UNKNOWN_HOST}    a host names no pod (k8s) or does not resolve (ssh)
  {EXIT_NO_CREDENTIALS}    no cluster credentials (k8s) or no ssh key (ssh)
  {EXIT_UNREACHABLE}    the cluster could not be asked before launching
  128+N  ended by signal N (after ending every daemon)
"""


def _env(name: str) -> dict[str, Any]:
    return {"envvar": f"K8SGO_{name}", "show_envvar": True}


class _Workers(click.ParamType):
    """A count of workers, or `auto` (0)."""

    name = "N|auto"

    def convert(self, value: Any, param: Optional[click.Parameter],
                ctx: Optional[click.Context]) -> int:
        if isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            return 0
        try:
            count = int(value)
        except ValueError:
            count = -1
        if count < 1:
            self.fail(f"{value!r} is neither a positive count nor auto", param, ctx)
        return count


WORKERS = _Workers()


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG,
               options_metavar="[OPTIONS] -- PRTED [ARGV]...")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines of our own.")
@click.option("-f", "--hostfile", "hostfile_path", metavar="HOSTFILE", required=True,
              help="Hosts, one per line, in daemon order.")
@click.option("--transport", type=click.Choice(["k8s", "ssh"]), default="k8s",
              show_default=True, **_env("TRANSPORT"),
              help="Kubernetes exec API, or ssh (asyncssh).")
@click.option("--namespace", **_env("NAMESPACE"),
              help="k8s: namespace of hosts that name none [kubeconfig's / the pod's].")
@click.option("--container", **_env("CONTAINER"), help="k8s: container to exec in [the first].")
@click.option("--kubeconfig", **_env("KUBECONFIG"),
              help="k8s: kubeconfig file [KUBECONFIG, ~/.kube/config, in-cluster].")
@click.option("--context", **_env("CONTEXT"), help="k8s: kubeconfig context [current].")
@click.option("--concurrency", type=click.IntRange(1), default=DEFAULTS.concurrency,
              show_default=True, **_env("CONCURRENCY"),
              help="Daemon set-ups in flight at once (running daemons hold no slot).")
@click.option("--connect-timeout", type=click.FloatRange(0, min_open=True),
              default=DEFAULTS.connect_timeout, show_default=True, **_env("CONNECT_TIMEOUT"),
              help="Seconds for each connect/handshake step.")
@click.option("--retry-deadline", type=click.FloatRange(0), default=DEFAULTS.retry_deadline,
              show_default=True, **_env("RETRY_DEADLINE"),
              help="Seconds one set-up may take, retries of 429/5xx/refused/reset "
                   "(before the daemon could have started) included.")
@click.option("--heartbeat-interval", type=click.FloatRange(0, min_open=True),
              default=DEFAULTS.heartbeat_interval, show_default=True,
              **_env("HEARTBEAT_INTERVAL"), help="Seconds between heartbeats to each guard.")
@click.option("--heartbeat-timeout", type=click.FloatRange(0, min_open=True),
              default=DEFAULTS.heartbeat_timeout, show_default=True,
              **_env("HEARTBEAT_TIMEOUT"),
              help="A guard that hears nothing this long ends its daemon (launcher gone).")
@click.option("--grace", type=click.FloatRange(0, 2.5), default=DEFAULTS.grace,
              show_default=True, **_env("GRACE"),
              help="Seconds between TERM and KILL when ending daemons.")
@click.option("--guard", default=DEFAULTS.guard, show_default=True, **_env("GUARD"),
              help="The in-pod guard command.")
@click.option("--ssh-port", type=click.IntRange(1, 65535), **_env("SSH_PORT"),
              help=f"ssh: port [ssh config's Port, else {DEFAULT_SSH_PORT}].")
@click.option("--ssh-user", **_env("SSH_USER"), help="ssh: user [ssh config's User, else ours].")
@click.option("--ssh-config", "ssh_config", **_env("SSH_CONFIG"),
              help="ssh: client config files, ':'-separated "
                   "[/etc/ssh/ssh_config and ~/.ssh/config].")
@click.option("--keep-going", is_flag=True, **_env("KEEP_GOING"),
              help="Let the other daemons run when one fails.")
@click.option("--lifeline-fd", type=click.IntRange(0), metavar="FD", **_env("LIFELINE_FD"),
              help="A pipe from the caller: EOF means it is ending the daemons (or is gone).")
@click.option("--detachable", is_flag=True, **_env("DETACHABLE"),
              help="Start the guards detachable: SIGUSR1 then ends every session and "
                   "leaves the daemons running.")
@click.option("--trace", metavar="FILE", **_env("TRACE"),
              help="Append a JSON line per event (daemon set-up, open, exit...) to FILE.")
@click.option("--workers", type=WORKERS, default="auto", show_default=True, **_env("WORKERS"),
              help="Launcher processes, each starting and holding a slice of the daemons "
                   "(auto: one per 1000 daemons, at most one per usable CPU).")
def command(quiet: bool, hostfile_path: str, ssh_config: Optional[str],
            **options: Any) -> tuple[Settings, bool, str]:
    """Start one PRRTE daemon per hostfile line, over the Kubernetes exec API or ssh."""
    paths = tuple(p for p in (ssh_config or "").split(os.pathsep) if p)
    return Settings(ssh_config=paths, **options), quiet, hostfile_path


def split_argv(args: Sequence[str]) -> tuple[list[str], Optional[list[str]]]:
    """(our arguments, the daemon argv or None if there is no `--`)."""
    if "--" not in args:
        return list(args), None
    at = list(args).index("--")
    return list(args[:at]), list(args[at + 1:])


def _signal_name(status: int) -> Optional[str]:
    """SIGKILL for 137: the guard and sshd report a signal's end as 128 + N. Only for a
    real signal number: prted's own failures exit with 256 - |error| (213, 250...)."""
    try:
        return signal.Signals(status - 128).name if 128 < status < 128 + 65 else None
    except ValueError:
        return None


def failure_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per host that failed on its own: host, then exit status or transport error."""
    lines = []
    for o in outcomes:
        if not o.failed:
            continue
        if o.error is not None:
            where = "" if o.started else "not started: "
            hint = TIMEOUT_HINT if "timed out after" in o.error.reason else ""
            lines.append(f"{o.host}: {where}{o.error.reason}{hint}")
        elif o.premature:
            lines.append(f"{o.host}: exited with status 0 while the launch still needed it")
        elif o.status is not None and _signal_name(o.status):
            lines.append(f"{o.host}: exit status {o.status} ({_signal_name(o.status)}?)")
        else:
            lines.append(f"{o.host}: exit status {o.status}")
    return lines


def exit_status(outcomes: Sequence[Outcome], signalled: Optional[int]) -> int:
    if signalled is not None:
        return 128 + signalled
    if any(o.failed or o.ended_by_us for o in outcomes):
        return EXIT_DAEMON_FAILED
    return EXIT_OK


def _raise_fd_limit(needed: int) -> None:
    """One socket per daemon: thousands of pods need more than the usual 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        target = hard if hard == resource.RLIM_INFINITY else min(hard, max(want, soft))
        # if refused, EMFILE shows up as per-host errors instead
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def watch_lifeline(loop: asyncio.AbstractEventLoop, fd: int, on_end: Callable[[], None]) -> None:
    """Call `on_end` at the lifeline's EOF (the caller closed it, or died)."""
    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            on_end()

    loop.add_reader(fd, readable)


class Run:
    """One launch: the engine, and our two outputs (see launchers.k8sgo.output)."""

    def __init__(self, settings: Settings, hosts: list[str], argv: list[str],
                 quiet: bool, trace: ev.Tracer = ev.no_trace) -> None:
        self.settings = settings
        self.hosts = hosts
        self.argv = argv
        self.quiet = quiet
        self.trace = trace
        self.outputs: tuple[Output, ...] = ()

    def say(self, message: str) -> None:
        """A progress line, through stderr's queue (the loop must not block on it)."""
        if not self.quiet:
            self.outputs[1].write(f"{PROG}: {message}\n".encode())

    async def prepare(self) -> Transport:
        """The transport, every host resolved (LauncherError if one cannot be)."""
        from launchers.k8sgo.transports import load

        transport: Transport = load(self.settings.transport)(self.settings)
        await transport.prepare(self.hosts)
        self.trace(ev.PREPARED, hosts=len(self.hosts))
        return transport

    async def launch(self, transport: Optional[Transport] = None,
                     ids: Optional[Sequence[int]] = None,
                     started: Optional[Callable[[], None]] = None) -> tuple[list[Outcome], Fanout]:
        """Start and hold the daemons of `ids` (all by default); `started()`, if given, is
        called instead of our progress line once all of them run."""
        settings = self.settings
        ids = list(range(len(self.hosts)) if ids is None else ids)
        hosts = [self.hosts[i] for i in ids]
        loop = asyncio.get_running_loop()
        out, err = Output(1, loop), Output(2, loop)
        self.outputs = (out, err)
        if transport is None:
            transport = await self.prepare()
        begun = time.monotonic()

        def all_started() -> None:
            if started is not None:
                started()
            else:
                self.say(started_line(len(hosts), settings.transport, time.monotonic() - begun))

        engine = Fanout(transport, hosts, self.argv, concurrency=settings.concurrency,
                        stdout=out.write, stderr=err.write, grace=settings.grace,
                        keep_going=settings.keep_going,
                        supervised=settings.lifeline_fd is not None,
                        flow=lambda: both_ready((out, err)), trace=self.trace, ids=ids,
                        on_all_started=all_started)
        if settings.lifeline_fd is not None:
            watch_lifeline(loop, settings.lifeline_fd, engine.caller_ending)
        for signo in SIGNALS:
            loop.add_signal_handler(signo, engine.stop, signo)
        if settings.detachable:
            loop.add_signal_handler(DETACH_SIGNAL, engine.detach)
        try:
            outcomes = await engine.run()
            self.trace(ev.END, **ev.own_usage(), **transport.stats())
        finally:
            for signo in (*SIGNALS, DETACH_SIGNAL):
                loop.remove_signal_handler(signo)
            if settings.lifeline_fd is not None:
                loop.remove_reader(settings.lifeline_fd)
            await transport.close()
        return outcomes, engine

    def flush(self) -> None:
        for output in self.outputs:
            output.close(FLUSH_WAIT)

    def report(self, outcomes: Sequence[Outcome], engine: Fanout) -> int:
        """Our lines about how the launch ended (after the daemons' output); the status."""
        self.flush()
        for line in failure_lines(outcomes):
            _error(line)
        ended = sum(1 for o in outcomes if o.ended_by_us)
        detached = sum(1 for o in outcomes if o.detached)
        if detached and not self.quiet:
            _error(f"detached from {detached} daemons: they run on without their sessions")
        if not self.quiet:
            if engine.signalled is not None:
                _error(f"{signal.Signals(engine.signalled).name}: ended {ended} daemons")
            elif ended and engine.stop_reason == "caller":
                _error(f"ended {ended} daemons still running {END_WAIT:g} s after the caller "
                       "ended the launch")
            elif ended:
                _error(f"ended the other {ended} daemons after the failure")
        return exit_status(outcomes, engine.signalled)


def started_line(count: int, transport: str, seconds: float, workers: int = 1) -> str:
    """The progress line once every daemon runs (the e2e tests and the bench read it)."""
    by = f" by {workers} workers" if workers > 1 else ""
    return f"{count} daemons started over {transport} in {seconds:.2f} s{by}"


def _error(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ours, daemon = split_argv(sys.argv[1:] if argv is None else argv)

    def error(message: str) -> None:
        sys.stderr.write(f"{PROG}: {message}\n")

    try:
        parsed = command.main(args=ours, prog_name=PROG, standalone_mode=False)
    except click.UsageError as exc:
        # without `--`, the daemon's words look like stray arguments to click
        error(exc.format_message() if daemon is not None
              else "missing `--` before the daemon command (see --help)")
        return EXIT_USAGE
    if not isinstance(parsed, tuple):  # --help was shown
        return int(parsed or 0)
    settings, quiet, path = parsed
    if settings.heartbeat_interval >= settings.heartbeat_timeout:
        # the guards would end every daemon between two heartbeats
        error(f"--heartbeat-interval ({settings.heartbeat_interval:g} s) must be shorter than "
              f"--heartbeat-timeout ({settings.heartbeat_timeout:g} s)")
        return EXIT_USAGE
    if daemon is None:
        error("missing `--` before the daemon command (see --help)")
        return EXIT_USAGE
    if not daemon:
        error("no daemon command after `--`")
        return EXIT_USAGE
    if settings.lifeline_fd is not None and not _is_open(settings.lifeline_fd):
        error(f"--lifeline-fd {settings.lifeline_fd}: not an open descriptor")
        return EXIT_USAGE

    if settings.detachable:
        # a detach before the daemons run has nothing to end; it must not kill us either
        signal.signal(DETACH_SIGNAL, signal.SIG_IGN)
    tracer = _open_trace(settings.trace)
    run = Run(settings, [], daemon, quiet, tracer or ev.no_trace)
    try:
        run.hosts = hostfile.read_hostfile(path)
        _raise_fd_limit(len(run.hosts))
        workers = min(settings.workers or auto_workers(len(run.hosts)), len(run.hosts))
        if workers > 1:
            # the pods resolved once, here; each worker inherits the transport
            return _in_workers(run, asyncio.run(run.prepare()), workers)
        outcomes, engine = asyncio.run(run.launch())
    except LauncherError as exc:
        run.flush()
        error(str(exc))
        return _EXIT_FOR.get(type(exc), EXIT_USAGE)
    finally:
        if tracer is not None:
            tracer.close()
    return run.report(outcomes, engine)


def _in_workers(run: Run, transport: Transport, workers: int) -> int:
    """The launch split over `workers` processes (launchers.k8sgo.workers)."""
    def work(part: range, started: Callable[[], None]) -> int:
        outcomes, engine = asyncio.run(run.launch(transport, list(part), started))
        return run.report(outcomes, engine)

    def say(message: str) -> None:
        if not run.quiet:
            _error(message)

    status = run_workers(shards(len(run.hosts), workers), work, say,
                         lambda s: started_line(len(run.hosts), run.settings.transport, s,
                                                workers),
                         relayed=(DETACH_SIGNAL,) if run.settings.detachable else ())
    run.trace(ev.END, **ev.own_usage(children=True), workers=workers)
    return status


def _open_trace(path: Optional[str]) -> Optional[ev.FileTrace]:
    """The trace file, with when we were started and when our code was ready."""
    if not path:
        return None
    tracer = ev.FileTrace(path)
    started = ev.process_start_time()
    if started is not None:
        tracer(ev.START, t=started, pid=os.getpid())
    tracer(ev.IMPORTED)
    return tracer


def entry() -> None:
    """The installed commands: `main`, then out at once.

    Everything of ours is written and closed by then (the daemons' output, our
    lines, the trace); what is left is the interpreter tearing its modules and
    thousands of stream objects down, which prterun would wait for at the end
    of every job (it reaps us before it exits).
    """
    status = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    entry()
