"""In the login pod: start one method's processes, time until N "up" lines, then end them.

Wall time runs from the first spawn until the N-th line containing "up " was
read. At that moment the CPU seconds (user+sys) and RSS of every process we
started and their descendants are summed (psutil): the launcher side's cost.
Then the method's own way of ending is used (SIGTERM for the launchers, stdin
EOF for the per-host processes) and everything is waited for.

    python -m bench.launch.timer SPEC_JSON   ->  one JSON line
    SPEC: {"argvs": [[...], ...], "expect": N, "end": "term" | "eof", "env": {...},
           "hold": SECONDS (keep them running this long once all are up; default 0)}

The line also has the wall-clock times of the start, of all being up and of
the end, so that what a sampler outside the pod saw can be cut into the
launch, the hold and the teardown (bench.k8s_sessions).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import psutil


def _cost(pids: list[int]) -> tuple[float, float]:
    """(CPU s, RSS MB) of these processes and all their descendants, alive now."""
    cpu = rss = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in family:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
    return cpu, rss


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, **spec.get("env", {})}
    expect = int(spec["expect"])
    seen = 0
    all_up = asyncio.Event()

    async def count(stream: asyncio.StreamReader) -> None:
        nonlocal seen
        while True:
            line = await stream.readline()
            if not line:
                return
            if b"up " in line:
                seen += 1
                if seen >= expect:
                    all_up.set()

    epoch_start = time.time()
    start = time.perf_counter()
    procs = []
    for argv in spec["argvs"]:
        procs.append(await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env))
    readers = [asyncio.get_running_loop().create_task(count(p.stdout))  # type: ignore[arg-type]
               for p in procs]
    try:
        await asyncio.wait_for(all_up.wait(), float(spec.get("timeout", 600)))
    except asyncio.TimeoutError:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
        raise SystemExit(f"only {seen}/{expect} up") from None
    wall = time.perf_counter() - start
    epoch_up = time.time()
    cpu, rss = _cost([p.pid for p in procs])
    if spec.get("hold"):
        await asyncio.sleep(float(spec["hold"]))
        held_cpu, held_rss = _cost([p.pid for p in procs])
    else:
        held_cpu, held_rss = cpu, rss
    epoch_held = time.time()
    for proc in procs:
        if spec.get("end") == "term":
            proc.send_signal(signal.SIGTERM)
        else:
            assert proc.stdin is not None
            proc.stdin.close()
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 60)
    except asyncio.TimeoutError:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
    for task in readers:
        task.cancel()
    return {"wall_s": wall, "cpu_s": cpu, "rss_mb": rss, "processes": len(procs),
            "held_cpu_s": held_cpu, "held_rss_mb": held_rss, "t_start": epoch_start,
            "t_up": epoch_up, "t_held": epoch_held, "t_end": time.time()}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.argv[1])))))
