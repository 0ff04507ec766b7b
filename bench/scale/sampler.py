"""What a launch holds while it runs, read from /proc on the host: memory, descriptors, threads.

One scan of /proc per sample maps every process to its pod by its pid namespace
(the pod's pause process holds it), so a thousand pods cost one pass, not a
thousand. Per sample: each pod's resident memory (every process but the pause
process) and its prted's; the API server's (the local cluster's daemon) memory,
descriptors and threads; the launcher's and prterun's memory and descriptors in
the login pod. `Peaks` keeps the largest of each over a run; `leftovers()` is
the same scan after it: what still runs in the pods.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Mapping, Optional

PAGE = os.sysconf("SC_PAGE_SIZE")
# what the login pod runs for a k8sgo job, by /proc/PID/comm (15 characters at most)
LAUNCHER_COMM = "basic_launcher"
PRTERUN_COMM = "prterun"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    fields = _read(f"/proc/{pid}/statm").split()
    return int(fields[1]) * PAGE / 2**20 if len(fields) > 1 else 0.0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def threads(pid: int) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def pod_processes(pause_pids: Mapping[str, int]) -> dict[str, list[int]]:
    """Per pod, the pids in its pid namespace other than its pause process (one /proc pass)."""
    by_ns: dict[str, str] = {}
    for pod, pause in pause_pids.items():
        try:
            by_ns[os.readlink(f"/proc/{pause}/ns/pid")] = pod
        except OSError:
            continue
    pauses = set(pause_pids.values())
    found: dict[str, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in pauses:
            continue
        try:
            ns = os.readlink(f"/proc/{entry}/ns/pid")
        except OSError:
            continue
        pod = by_ns.get(ns)
        if pod is not None:
            found.setdefault(pod, []).append(int(entry))
    return found


def comm(pid: int) -> str:
    return _read(f"/proc/{pid}/comm").strip()


@dataclass
class Peaks:
    """The largest value of each figure seen over a run."""

    pod_mb: dict[str, float] = field(default_factory=dict)     # all of a pod's processes
    prted_mb: dict[str, float] = field(default_factory=dict)   # its prted alone
    api_mb: float = 0.0
    api_fds: int = 0
    api_threads: int = 0
    launcher_mb: float = 0.0
    launcher_fds: int = 0
    prterun_mb: float = 0.0
    prterun_fds: int = 0
    samples: int = 0
    scan_s: float = 0.0  # what the sampling itself cost (wall)

    def take(self, api_pid: int, login_pod: str, pause_pids: Mapping[str, int]) -> None:
        start = time.monotonic()
        self.api_mb = max(self.api_mb, rss_mb(api_pid))
        self.api_fds = max(self.api_fds, fd_count(api_pid))
        self.api_threads = max(self.api_threads, threads(api_pid))
        for pod, pids in pod_processes(pause_pids).items():
            if pod == login_pod:
                for pid in pids:
                    name = comm(pid)
                    if name == LAUNCHER_COMM:
                        self.launcher_mb = max(self.launcher_mb, rss_mb(pid))
                        self.launcher_fds = max(self.launcher_fds, fd_count(pid))
                    elif name == PRTERUN_COMM:
                        self.prterun_mb = max(self.prterun_mb, rss_mb(pid))
                        self.prterun_fds = max(self.prterun_fds, fd_count(pid))
                continue
            sizes = {pid: rss_mb(pid) for pid in pids}
            self.pod_mb[pod] = max(self.pod_mb.get(pod, 0.0), sum(sizes.values()))
            prted = [mb for pid, mb in sizes.items() if comm(pid) == "prted"]
            if prted:
                self.prted_mb[pod] = max(self.prted_mb.get(pod, 0.0), max(prted))
        self.samples += 1
        self.scan_s += time.monotonic() - start


class Sampler:
    """Takes `Peaks` every `interval` seconds in a thread, from start() to stop()."""

    def __init__(self, api_pid: int, login_pod: str, pause_pids: Mapping[str, int],
                 interval: float = 0.5) -> None:
        self.peaks = Peaks()
        self._args = (api_pid, login_pod, dict(pause_pids))
        self._interval = interval
        self._done = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> Sampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._done.is_set():
            self.peaks.take(*self._args)
            self._done.wait(self._interval)

    def stop(self) -> Peaks:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        return self.peaks


def leftovers(login_pod: str, pause_pids: Mapping[str, int]) -> dict[str, list[str]]:
    """What still runs: in compute pods anything, in the login pod prterun and launchers."""
    left: dict[str, list[str]] = {}
    for pod, pids in pod_processes(pause_pids).items():
        names = [comm(pid) for pid in pids]
        if pod == login_pod:
            names = [n for n in names if n in (LAUNCHER_COMM, PRTERUN_COMM, "prted")]
        names = [n for n in names if n]
        if names:
            left[pod] = sorted(names)
    return left


def wait_no_leftovers(login_pod: str, pause_pids: Mapping[str, int],
                      within: float) -> dict[str, list[str]]:
    deadline = time.monotonic() + within
    while True:
        left = leftovers(login_pod, pause_pids)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1.0)
