"""The engine: start every daemon under one semaphore, wait for all, tear down on demand.

ClusterShell's split: the engine owns concurrency, signals and teardown; a
transport only starts one remote process. The semaphore bounds concurrent
*set-ups* (connect, TLS, upgrade or ssh auth); a daemon that runs holds no slot,
so thousands of pods need thousands of sockets but only `concurrency`
handshakes in flight.

A job cannot run with a daemon missing, so by default the first failure (a
set-up error of any kind, a daemon exiting non-zero, a stream cut) ends every
other daemon, as a signal to the launcher does. Ending a daemon: a TERM record
and stdin EOF to its guard; after `grace` seconds a KILL record and the
connection is dropped (the guard then ends the tree); what still has not
finished a moment later is abandoned to the guard's heartbeat timeout.

Supervised (plm/k8sgo passes a lifeline): the caller says when the daemons are
to end (`caller_ending`, its lifeline's EOF); from then on exits are expected,
and the daemons get `END_WAIT` seconds to end by themselves before they are
ended. Before that a daemon has no reason to exit alone: one that exits 0 while
the others still run `END_WAIT` seconds later has failed too (prterun would
wait forever for its callback). The wait is there because PRRTE can also end
the daemons without telling the caller first (pterm's halt goes to every daemon
at once): then they all exit 0 within it.

Detachable (`--detachable`): once the caller has wired its daemons up it may ask
us to `detach`: every guard gets a DETACH record and ends its session with
status 0, the daemon running on; a session that ends so is a detached daemon,
not a failure, and when all have, the launch is over.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Callable, NamedTuple, Optional, Sequence

from launchers.exec.errors import KubeExecError
from launchers.exec.transport import RemoteProcess
from launchers.k8sgo import trace as ev
from launchers.k8sgo.settings import daemon_env
from launchers.k8sgo.trace import Tracer, no_trace
from launchers.k8sgo.transports.base import Flow, Sink, Transport

# After the KILL record: time for it to go out before the connection is dropped.
KILL_FLUSH = 0.5
# After the connections are dropped: time for the sessions to wind up before we stop waiting.
ABANDON_AFTER = 1.0
# After the caller ended the launch: time for the daemons to exit by themselves (on
# prterun's exit command, or on losing prterun) before they are ended.
END_WAIT = 5.0


class Outcome(NamedTuple):
    """How one host's daemon ended."""

    order: int  # hostfile line order = PRTE_ESS_K8SGO_ID
    host: str
    status: Optional[int] = None  # remote exit status, if known
    error: Optional[KubeExecError] = None  # why it could not start or was lost
    started: bool = False
    ended_by_us: bool = False  # ended (or never started) because of a teardown
    premature: bool = False  # exited 0 while the caller still needed it (supervised)
    detached: bool = False  # its session ended at our DETACH record: the daemon runs on

    @property
    def failed(self) -> bool:
        """A failure of its own (not one the teardown caused)."""
        if self.ended_by_us:
            return False
        return self.error is not None or self.status != 0 or self.premature


class Fanout:
    """Runs `argv` on every host (daemon i gets PRTE_ESS_K8SGO_ID=i, i its id: its position,
    or `ids[position]`) until all have ended."""

    def __init__(
        self,
        transport: Transport,
        hosts: Sequence[str],
        argv: Sequence[str],
        *,
        concurrency: int,
        stdout: Sink,
        stderr: Sink,
        grace: float = 2.0,
        keep_going: bool = False,
        supervised: bool = False,
        flow: Optional[Flow] = None,
        trace: Tracer = no_trace,
        ids: Optional[Sequence[int]] = None,
        on_all_started: Optional[Callable[[], None]] = None,
    ) -> None:
        self.transport = transport
        self.hosts = list(hosts)
        # each host's daemon id (its hostfile line): a worker holds a slice of the lines
        self.ids = list(range(len(self.hosts)) if ids is None else ids)
        self.argv = list(argv)
        self.concurrency = max(1, concurrency)
        self.stdout = stdout
        self.stderr = stderr
        self.grace = grace
        self.keep_going = keep_going
        self.supervised = supervised
        self.flow = flow
        self.trace = trace
        # called once, as the last daemon starts, unless the daemons are being ended
        self.on_all_started = on_all_started
        self.signalled: Optional[int] = None
        # why the daemons were ended, once they are: "signal", "failure" or "caller"
        self.stop_reason: Optional[str] = None
        self.started = 0
        self.caller_ended = False  # the caller closed the lifeline
        self.detaching = False  # the caller asked for the sessions to end (detach)
        self._stopping = False
        self._procs: dict[int, RemoteProcess] = {}  # daemons still running
        self._tasks: list[asyncio.Task[Outcome]] = []

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> list[Outcome]:
        """Start all, wait for all; the outcomes in hostfile order."""
        sem = asyncio.Semaphore(self.concurrency)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._one(i, host, sem))
                       for i, host in zip(self.ids, self.hosts)]
        await asyncio.wait(self._tasks)
        return [task.result() for task in self._tasks]

    def stop(self, signo: Optional[int] = None, reason: str = "failure") -> None:
        """End every daemon (a signal to the launcher, the first failure, or the caller's
        end not followed by the daemons')."""
        if signo is not None and self.signalled is None:
            self.signalled = signo
        if self._stopping:
            return
        self.stop_reason = "signal" if signo is not None else reason
        self.trace(ev.STOP, reason=self.stop_reason)
        self._stopping = True  # set-ups still waiting for a slot see it and never start
        for proc in self._procs.values():
            _end(proc)
        loop = asyncio.get_running_loop()
        loop.call_later(self.grace, self._kill_all)
        loop.call_later(self.grace + KILL_FLUSH, self._abort_all)
        loop.call_later(self.grace + KILL_FLUSH + ABANDON_AFTER, self._cancel_all)

    def _kill_all(self) -> None:
        for proc in self._procs.values():
            _kill(proc)

    def _abort_all(self) -> None:
        for proc in self._procs.values():
            proc.abort()

    def _cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()  # set-ups still hanging, sessions that did not wind up

    def detach(self) -> None:
        """The caller's daemons are wired up: end every session, leave every daemon running
        (a daemon whose set-up is still under way is detached as its session opens)."""
        if self.detaching or self._winding_down:
            return
        self.detaching = True
        self.trace(ev.DETACH, sessions=len(self._procs))
        for proc in self._procs.values():
            proc.detach()

    def caller_ending(self) -> None:
        """The caller is ending the daemons (or is gone): exits are expected from now on.

        Nothing more is started; what still runs after END_WAIT is ended.
        """
        if self.caller_ended:
            return
        self.caller_ended = True
        self.trace(ev.CALLER_END)
        asyncio.get_running_loop().call_later(END_WAIT, self._end_stragglers)

    def _end_stragglers(self) -> None:
        if any(not task.done() for task in self._tasks):
            self.stop(reason="caller")

    @property
    def _winding_down(self) -> bool:
        return self._stopping or self.caller_ended

    def _failed(self) -> None:
        # after a detach the other guards listen no more: the job's end is PRRTE's to make
        if not self.keep_going and not self.caller_ended and not self.detaching:
            self.stop()

    async def _one(self, i: int, host: str, sem: asyncio.Semaphore) -> Outcome:
        try:
            async with sem:
                if self._winding_down:
                    return Outcome(i, host, ended_by_us=True)
                self.trace(ev.SETUP, i=i)
                proc = await self.transport.start(
                    i, host, self.argv, self.stdout, self.stderr, flow=self.flow,
                    env=daemon_env(i))
        except asyncio.CancelledError:
            return Outcome(i, host, ended_by_us=True)
        except Exception as exc:  # noqa: BLE001 - any set-up failure is this host's failure
            by_us = self._stopping
            error = _as_host_error(exc, host)
            self.trace(ev.FAILED, i=i, why=error.reason)
            self._failed()
            return Outcome(i, host, error=error, ended_by_us=by_us)
        self.trace(ev.OPEN, i=i)
        self.started += 1
        if (self.started == len(self.hosts) and self.on_all_started is not None
                and not self._winding_down):
            self.on_all_started()
        self._procs[i] = proc
        ended_here = self._winding_down
        if ended_here:
            _end(proc)  # its set-up finished after the teardown (or the caller's end) began
        elif self.detaching:
            proc.detach()
        try:
            status = await proc.wait()
        except asyncio.CancelledError:
            proc.abort()
            return Outcome(i, host, started=True, ended_by_us=True)
        except Exception as exc:  # noqa: BLE001 - a lost stream, or anything else: this host's
            proc.abort()
            by_us = self._stopping
            error = _as_host_error(exc, host)
            self.trace(ev.FAILED, i=i, why=error.reason)
            self._failed()
            return Outcome(i, host, error=error, started=True, ended_by_us=by_us)
        finally:
            self._procs.pop(i, None)
        self.trace(ev.EXIT, i=i, status=status)
        by_us = self._stopping or ended_here
        detached = self.detaching and status == 0 and not by_us
        premature = (self.supervised and status == 0 and not self._winding_down
                     and not detached and not await self._an_end_follows())
        if status != 0 or premature:
            self._failed()
        return Outcome(i, host, status=status, started=True, ended_by_us=by_us and status != 0,
                       premature=premature, detached=detached)

    async def _an_end_follows(self) -> bool:
        """A daemon exited 0 on its own: is it the first of an orderly end (the caller's EOF
        comes, or every other daemon exits too, within END_WAIT)?"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + END_WAIT
        while not (self._winding_down or not self._procs):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


def _as_host_error(exc: BaseException, host: str) -> KubeExecError:
    """Our error for whatever one host's set-up or session raised (a transport's bug or an
    error it did not foresee, such as a key it cannot load), so it is that host's failure."""
    if isinstance(exc, KubeExecError):
        return exc
    return KubeExecError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                         host)


def _end(proc: RemoteProcess) -> None:
    """Ask a daemon to end: TERM to its process group, and stdin EOF."""
    proc.send_signal(signal.SIGTERM)
    proc.close_stdin()


def _kill(proc: RemoteProcess) -> None:
    """The guard's KILL record: end the whole tree now (abort follows in any case)."""
    proc.kill_tree()
