"""In the login pod: run one job and write every line it prints, stamped, as JSON lines.

    python -m bench.phases.stamp TIMEOUT COMMAND...

Each line of the job's stdout and stderr becomes {"t": wall clock at arrival,
"src": "out" | "err", "line": ...}; the launcher's trace (launchers.k8sgo.trace,
asked for through K8SGO_TRACE, in this pod's /tmp) follows as {"src": "trace",
...} records, and a last {"src": "meta"} record says when the job was started
and ended, its exit status, the CPU it and its children used, and whether it
was stopped at TIMEOUT (SIGTERM to the job first, so that prterun ends its
daemons in order; SIGKILL 20 s later). Arrival stamps are exact for the job's
own lines and late by the transport's delay for the daemons' (their own state
lines carry their own stamps). Our output goes out as it comes, so a run cut
off from outside still leaves everything up to that moment.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import IO, Any

KILL_AFTER = 20.0


def emit(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()


def run(timeout: float, argv: list[str], out: IO[str]) -> int:
    fd, trace = tempfile.mkstemp(prefix="k8sgo-trace.", suffix=".jsonl")
    os.close(fd)
    env = {**os.environ, "K8SGO_TRACE": trace}
    started = time.time()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    pending = {"out": b"", "err": b""}
    deadline = started + timeout
    stopped = ""
    while sel.get_map():
        now = time.time()
        if not stopped and now >= deadline:
            stopped = "timeout"
            proc.send_signal(signal.SIGTERM)
            deadline = now + KILL_AFTER
        elif stopped == "timeout" and now >= deadline:
            stopped = "timeout, killed"
            proc.kill()
            deadline = now + KILL_AFTER
        for key, _ in sel.select(max(0.05, deadline - now)):
            data = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            t = time.time()
            if not data:
                sel.unregister(key.fileobj)
                data = b"\n" if pending[key.data] else b""
            lines = (pending[key.data] + data).split(b"\n")
            pending[key.data] = lines.pop()
            for line in lines:
                emit(out, {"t": round(t, 6), "src": key.data,
                           "line": line.decode(errors="replace")})
    status = proc.wait()
    ended = time.time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with open(trace, encoding="utf-8") as f:
            for line in f:
                try:
                    emit(out, {"src": "trace", **json.loads(line)})
                except ValueError:
                    continue
    finally:
        os.unlink(trace)
    emit(out, {"src": "meta", "t": round(ended, 6), "started": round(started, 6),
               "status": status, "stopped": stopped,
               "children_cpu_s": round(children.ru_utime + children.ru_stime, 3),
               "argv": argv})
    return 0


if __name__ == "__main__":
    sys.exit(run(float(sys.argv[1]), sys.argv[2:], sys.stdout))
