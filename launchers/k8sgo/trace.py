"""The launcher's trace (`--trace FILE`, `K8SGO_TRACE`): one JSON line per event, as it happens.

What a phase account of a launch needs from the launcher, and what a launch
that hangs or fails must be able to say afterwards: when the launcher was
started and had imported its code, when the pods were resolved, and per daemon
when its set-up began (a slot of the semaphore), when its session opened (the
daemon runs) and when it ended, with how; then the caller's end (lifeline EOF),
the teardown and the launcher's own CPU and peak memory. Wall-clock times
(`time.time()`), so that they line up with PRRTE's and the daemons' own stamps.

    {"t": 1796578319.043, "ev": "open", "i": 17}

Written line by line (a SIGKILLed launcher leaves every event up to its end); a
trace that cannot be written is dropped silently: it must never fail a launch.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import time
from typing import IO, Any, Optional, Protocol

# Events, in the order a launch makes them.
START = "start"          # the process began (kernel's start time: 10 ms resolution)
IMPORTED = "imported"    # our code is loaded, arguments parsed
PREPARED = "prepared"    # every host resolved (k8s: one pod list per namespace)
SETUP = "setup"          # daemon i got a set-up slot: connect, TLS, upgrade begin
OPEN = "open"            # daemon i's session is open: its command runs in the pod
FAILED = "failed"        # daemon i could not be started, or its session broke
EXIT = "exit"            # daemon i ended with status s
CALLER_END = "caller-end"  # the lifeline's EOF: the caller is ending the daemons
DETACH = "detach"        # the caller asked us to end every session, the daemons running on
STOP = "stop"            # we are ending the daemons (reason: signal, failure, caller)
END = "end"              # every daemon has ended; our CPU and peak RSS so far


class Tracer(Protocol):
    def __call__(self, event: str, **fields: Any) -> None: ...


def no_trace(event: str, **fields: Any) -> None:
    """The tracer when no trace was asked for."""


class FileTrace:
    """Appends events to a file, one JSON object per line, flushed as written."""

    def __init__(self, path: str) -> None:
        self._file: Optional[IO[str]]
        try:
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        except OSError:
            self._file = None

    def __call__(self, event: str, **fields: Any) -> None:
        if self._file is None:
            return
        record = {"t": round(fields.pop("t", time.time()), 6), "ev": event, **fields}
        try:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        except (OSError, ValueError):
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def process_start_time() -> Optional[float]:
    """When this process was started, wall clock (Linux: /proc; None elsewhere).

    /proc gives the start in clock ticks since boot; how long ago that was is the
    boot-time clock now minus it (not /proc/stat's btime, which is whole seconds).
    """
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.time() - (since_boot - ticks / os.sysconf("SC_CLK_TCK"))


def own_usage(children: bool = False) -> dict[str, float]:
    """Our CPU seconds (user + system) and peak RSS in MB, for the END event; with
    `children`, the workers' CPU added (they have ended) and the largest peak of all."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu, peak = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    if children:
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu, peak = cpu + reaped.ru_utime + reaped.ru_stime, max(peak, reaped.ru_maxrss)
    return {"cpu_s": round(cpu, 3), "maxrss_mb": round(peak / 1024, 1)}
