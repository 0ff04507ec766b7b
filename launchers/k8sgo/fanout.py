"""The engine: start every daemon under one semaphore, wait for all, tear down on demand.

ClusterShell's split: the engine owns concurrency, signals and teardown; a
transport only starts one remote process. The semaphore bounds concurrent
*set-ups* (connect, TLS, upgrade or ssh auth); a daemon that runs holds no slot,
so thousands of pods need thousands of sockets but only `concurrency`
handshakes in flight.

A job cannot run with a daemon missing, so by default the first failure (a
set-up error, a daemon exiting non-zero, a stream cut) ends every other daemon,
as a signal to the launcher does. Ending a daemon: a TERM record and stdin EOF
to its guard; after `grace` seconds a KILL record and the connection is
dropped (the guard then ends the tree); what still has not finished a moment
later is abandoned to the guard's heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import signal
from typing import NamedTuple, Optional, Sequence

from launchers.exec.errors import KubeExecError
from launchers.exec.transport import RemoteProcess
from launchers.k8sgo.settings import daemon_argv
from launchers.k8sgo.transports.base import Sink, Transport

# After the KILL record: time for it to go out before the connection is dropped.
KILL_FLUSH = 0.5
# After the connections are dropped: time for the sessions to wind up before we stop waiting.
ABANDON_AFTER = 1.0


class Outcome(NamedTuple):
    """How one host's daemon ended."""

    order: int  # hostfile line order = PRTE_ESS_K8SGO_ID
    host: str
    status: Optional[int] = None  # remote exit status, if known
    error: Optional[KubeExecError] = None  # why it could not start or was lost
    started: bool = False
    ended_by_us: bool = False  # ended (or never started) because of a teardown

    @property
    def failed(self) -> bool:
        """A failure of its own (not one the teardown caused)."""
        if self.ended_by_us:
            return False
        return self.error is not None or self.status != 0


class Fanout:
    """Runs `argv` on every host (daemon i gets PRTE_ESS_K8SGO_ID=i) until all have ended."""

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
    ) -> None:
        self.transport = transport
        self.hosts = list(hosts)
        self.argv = list(argv)
        self.concurrency = max(1, concurrency)
        self.stdout = stdout
        self.stderr = stderr
        self.grace = grace
        self.keep_going = keep_going
        self.signalled: Optional[int] = None
        self.started = 0
        self._stopping = False
        self._procs: dict[int, RemoteProcess] = {}
        self._tasks: list[asyncio.Task[Outcome]] = []

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> list[Outcome]:
        """Start all, wait for all; the outcomes in hostfile order."""
        sem = asyncio.Semaphore(self.concurrency)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._one(i, host, sem))
                       for i, host in enumerate(self.hosts)]
        await asyncio.wait(self._tasks)
        return [task.result() for task in self._tasks]

    def stop(self, signo: Optional[int] = None) -> None:
        """End every daemon (a signal to the launcher, or the first failure)."""
        if signo is not None and self.signalled is None:
            self.signalled = signo
        if self._stopping:
            return
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

    def _failed(self) -> None:
        if not self.keep_going:
            self.stop()

    async def _one(self, i: int, host: str, sem: asyncio.Semaphore) -> Outcome:
        try:
            async with sem:
                if self._stopping:
                    return Outcome(i, host, ended_by_us=True)
                proc = await self.transport.start(
                    i, host, daemon_argv(i, self.argv), self.stdout, self.stderr)
        except asyncio.CancelledError:
            return Outcome(i, host, ended_by_us=True)
        except KubeExecError as exc:
            by_us = self._stopping
            self._failed()
            return Outcome(i, host, error=exc, ended_by_us=by_us)
        self.started += 1
        self._procs[i] = proc
        if self._stopping:
            _end(proc)  # its set-up finished after the teardown began
        try:
            status = await proc.wait()
        except asyncio.CancelledError:
            proc.abort()
            return Outcome(i, host, started=True, ended_by_us=True)
        except KubeExecError as exc:
            proc.abort()
            by_us = self._stopping
            self._failed()
            return Outcome(i, host, error=exc, started=True, ended_by_us=by_us)
        finally:
            self._procs.pop(i, None)
        by_us = self._stopping
        if status != 0:
            self._failed()
        return Outcome(i, host, status=status, started=True, ended_by_us=by_us and status != 0)


def _end(proc: RemoteProcess) -> None:
    """Ask a daemon to end: TERM to its process group, and stdin EOF."""
    proc.send_signal(signal.SIGTERM)
    proc.close_stdin()


def _kill(proc: RemoteProcess) -> None:
    """The guard's KILL record: end the whole tree now (abort follows in any case)."""
    proc.kill_tree()
