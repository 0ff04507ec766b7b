"""The launcher's trace file: one JSON line per event, written as it happens, never a failure."""

from __future__ import annotations

import json
import time
from pathlib import Path

from launchers.k8sgo import trace


def test_events_are_json_lines_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    tracer = trace.FileTrace(str(path))
    tracer(trace.OPEN, i=3)
    # line-buffered: a launcher SIGKILLed now leaves this line behind
    first = json.loads(path.read_text())
    assert first["ev"] == "open" and first["i"] == 3
    assert abs(first["t"] - time.time()) < 60
    tracer(trace.START, t=12.5, pid=7)
    tracer.close()
    tracer(trace.END, cpu_s=1.0)  # after close: dropped, no error
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[1] == {"t": 12.5, "ev": "start", "pid": 7}
    assert len(lines) == 2


def test_an_unwritable_trace_is_dropped_silently(tmp_path: Path) -> None:
    tracer = trace.FileTrace(str(tmp_path / "missing" / "t.jsonl"))
    tracer(trace.OPEN, i=0)
    tracer.close()
    assert not (tmp_path / "missing").exists()


def test_start_time_and_usage() -> None:
    started = trace.process_start_time()
    assert started is not None and 0 <= time.time() - started < 3600
    usage = trace.own_usage()
    assert usage["cpu_s"] > 0 and usage["maxrss_mb"] > 1
