"""Several launcher processes for one launch: one core is the bound past a thousand daemons.

Each daemon costs the launcher about 3 ms of CPU to start (TLS, the upgrade,
the guard's stream), and one Python process runs on one core: 10 000 daemons
would take 30 s of launch at best (docs/scaling.md). So with `--workers K` the
launcher resolves every host once, then forks K workers, each starting and
holding a contiguous slice of the daemons (ids unchanged: line i is still
PRTE_ESS_K8SGO_ID=i), each with its own event loop, connections and output
threads, all resuming the TLS session the pod list opened. The parent:

- forwards SIGTERM, SIGINT and SIGHUP to every worker (each ends its daemons),
  and the `relayed` signals (the detach) without taking them as an end;
- ends the other workers when one ends by itself with a failure (a PRRTE job
  cannot run with a daemon missing: the same rule as within one worker);
- prints the one progress line once every worker said its slice is started;
- exits 0 when all did, 1 when a daemon failed, 128+N when it got signal N.

Workers die with the parent (PR_SET_PDEATHSIG), and the lifeline is each
worker's own: they all inherit it and all see its EOF.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from typing import Callable, Optional, Sequence

# One worker per this many daemons when asked for `auto`, up to the CPUs we may use.
DAEMONS_PER_WORKER = 1000
PR_SET_PDEATHSIG = 1
POLL = 0.05


def auto_workers(hosts: int, cpus: Optional[int] = None) -> int:
    """`--workers auto`: one per DAEMONS_PER_WORKER daemons, at most one per usable CPU."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(cpus, -(-hosts // DAEMONS_PER_WORKER)))


def shards(count: int, workers: int) -> list[range]:
    """Contiguous, near-equal slices of range(count), one per worker, none empty (pure)."""
    workers = max(1, min(workers, count))
    size, extra = divmod(count, workers)
    out, start = [], 0
    for w in range(workers):
        end = start + size + (1 if w < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _status(wait_status: int) -> int:
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def run_workers(slices: Sequence[range], work: Callable[[range, Callable[[], None]], int],
                say: Callable[[str], None], started_line: Callable[[float], str],
                relayed: Sequence[int] = ()) -> int:
    """Fork one process per slice running `work(slice, started)` (its exit status; it calls
    `started()` once its whole slice runs); supervise them as the module says."""
    ready_r, ready_w = os.pipe()
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, *relayed)
    # blocked while forking: a signal now must reach workers that exist, not half of them
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    begun = time.monotonic()
    pids: dict[int, range] = {}
    for part in slices:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the worker, which leaves by os._exit
            status = 1
            try:
                os.close(ready_r)
                _die_with_parent()
                for signo in handled:
                    # a relayed signal before the worker's loop handles it: not an end
                    signal.signal(signo, signal.SIG_IGN if signo in relayed else signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)

                def started() -> None:
                    with contextlib.suppress(OSError):
                        os.write(ready_w, b"s")

                status = work(part, started)
            finally:
                os._exit(status)
        pids[pid] = part
    os.close(ready_w)
    got: list[int] = []

    def forward(signo: int, _frame: object) -> None:
        if signo not in relayed:
            got.append(signo)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signo)

    previous = {signo: signal.signal(signo, forward) for signo in handled}
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    statuses: dict[int, int] = {}
    ready, ended_by_us, listening = 0, False, [ready_r]
    try:
        while len(statuses) < len(pids):
            readable, _, _ = select.select(listening, [], [], POLL)
            if readable:
                data = os.read(ready_r, 64)
                if not data:  # every worker has closed it
                    listening = []
                ready += len(data)
                if data and ready == len(pids) and not got and not ended_by_us:
                    say(started_line(time.monotonic() - begun))
            while True:
                try:
                    pid, wait_status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    pid = 0
                if pid == 0:
                    break
                if pid in pids:
                    statuses[pid] = _status(wait_status)
                    if statuses[pid] != 0 and not got and not ended_by_us:
                        ended_by_us = True  # the first failure: the others end theirs
                        for other in pids:
                            if other not in statuses:
                                with contextlib.suppress(ProcessLookupError):
                                    os.kill(other, signal.SIGTERM)
    finally:
        os.close(ready_r)
        for signo, handler in previous.items():
            signal.signal(signo, handler)
    if got:
        return 128 + got[0]
    if any(s != 0 for s in statuses.values()):
        return 1
    return 0
