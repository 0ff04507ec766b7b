"""k8sgo-launcher's workers: slices of the daemons, and the parent that supervises them."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable, Optional

import pytest

from launchers.k8sgo.workers import auto_workers, run_workers, shards


def test_shards_cover_every_line_once_in_order() -> None:
    assert shards(10, 3) == [range(0, 4), range(4, 7), range(7, 10)]
    assert shards(2, 5) == [range(0, 1), range(1, 2)]  # never an empty worker
    for count, workers in ((1, 1), (1000, 7), (1021, 16)):
        parts = shards(count, workers)
        assert [i for part in parts for i in part] == list(range(count))
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_auto_is_one_worker_per_thousand_daemons_up_to_the_cpus() -> None:
    assert auto_workers(1, cpus=8) == 1
    assert auto_workers(1000, cpus=8) == 1
    assert auto_workers(1001, cpus=8) == 2
    assert auto_workers(50_000, cpus=8) == 8
    assert auto_workers(5000, cpus=1) == 1


def supervise(work: Callable[[range, Callable[[], None]], int],
              count: int = 3) -> tuple[int, list[str]]:
    said: list[str] = []
    status = run_workers(shards(count, count), work, said.append, lambda s: "all started")
    return status, said


def test_all_workers_succeeding_is_0_and_one_progress_line() -> None:
    def work(part: range, started: Callable[[], None]) -> int:
        started()
        return 0

    assert supervise(work) == (0, ["all started"])


def holding(tmp_path, fails: Optional[int] = None) -> Callable[[range, Callable[[], None]], int]:
    """A worker that holds its slice until SIGTERM and records that it got it; the one whose
    slice starts at `fails` fails at once instead."""
    def work(part: range, started: Callable[[], None]) -> int:
        if part.start == fails:
            # fail once the others hold (their handler set): a worker the parent ends
            # before that dies of the signal's default action, with nothing to record
            deadline = time.monotonic() + 20
            while (len(list(tmp_path.glob("holding-*"))) < 2
                   and time.monotonic() < deadline):
                time.sleep(0.01)
            return 1
        ended = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: ended.set())
        (tmp_path / f"holding-{part.start}").write_text("")
        started()
        if ended.wait(20):
            (tmp_path / f"ended-{part.start}").write_text("TERM")
            return 143
        return 0

    return work


def test_a_failing_worker_ends_the_others_and_the_status_is_1(tmp_path) -> None:
    """Worker 1 fails at once; workers 0 and 2 hold their daemons until told to end: they
    must get SIGTERM from the parent (each records it) and the launch fails with 1."""
    status, said = supervise(holding(tmp_path, fails=1))
    assert status == 1
    assert sorted(p.name for p in tmp_path.glob("ended-*")) == ["ended-0", "ended-2"]
    assert said == []  # not every worker started its slice


def test_a_signal_to_the_parent_reaches_every_worker_and_is_its_status(tmp_path) -> None:
    said: list[str] = []

    def say(line: str) -> None:  # every worker runs: now the launcher is told to end
        said.append(line)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    status = run_workers(shards(3, 3), holding(tmp_path), say, lambda s: "all started")
    assert status == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.glob("ended-*")) == ["ended-0", "ended-1", "ended-2"]
    assert said == ["all started"]
    assert signal.getsignal(signal.SIGTERM) == before  # the caller's handler is back


def test_workers_die_with_their_parent(tmp_path) -> None:
    """PR_SET_PDEATHSIG: a worker outlives a SIGKILLed parent by no more than a moment."""
    pid = os.fork()
    if pid == 0:  # the launcher's parent process
        def work(part: range, started: Callable[[], None]) -> int:
            (tmp_path / "worker").write_text(str(os.getpid()))
            time.sleep(60)
            return 0
        try:
            run_workers([range(0, 1)], work, lambda s: None, lambda s: "")
        finally:
            os._exit(0)
    deadline = time.monotonic() + 20
    while not (tmp_path / "worker").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int((tmp_path / "worker").read_text())
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its parent")


def test_a_relayed_signal_reaches_every_worker_and_is_no_end(tmp_path) -> None:
    """The detach (SIGUSR1 with --detachable): each worker gets it and ends its sessions;
    the launch's status is theirs (0), not 128+N."""
    def work(part: range, started: Callable[[], None]) -> int:
        detached = threading.Event()
        signal.signal(signal.SIGUSR1, lambda *_: detached.set())
        (tmp_path / f"holding-{part.start}").write_text("")
        started()
        if detached.wait(20):
            (tmp_path / f"detached-{part.start}").write_text("")
            return 0
        return 1

    def say(line: str) -> None:
        os.kill(os.getpid(), signal.SIGUSR1)

    status = run_workers(shards(3, 3), work, say, lambda s: "all started",
                         relayed=(signal.SIGUSR1,))
    assert status == 0
    assert sorted(p.name for p in tmp_path.glob("detached-*")) == [
        "detached-0", "detached-1", "detached-2"]
