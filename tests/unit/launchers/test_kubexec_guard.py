"""kubexec-guard run locally as a subprocess, fed framed records on its stdin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from launchers import guard_protocol as wire
from launchers.guard import descendants, exit_code, parse_args

REPO = Path(__file__).resolve().parents[3]


def start_guard(script: str, timeout: float = 30, grace: float = 1) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "launchers.guard", "--heartbeat-timeout", str(timeout),
            "--grace", str(grace), "--", "/bin/sh", "-c", script]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)


def send(proc: subprocess.Popen[bytes], *records: bytes) -> None:
    assert proc.stdin is not None
    proc.stdin.write(b"".join(records))
    proc.stdin.flush()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def read_pids(proc: subprocess.Popen[bytes], count: int) -> list[int]:
    assert proc.stdout is not None
    return [int(proc.stdout.readline()) for _ in range(count)]


@pytest.fixture
def guards():
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()


def test_stdin_passthrough_exit_status_and_separate_streams(guards):
    proc = start_guard("cat; echo oops >&2; exit 3")
    guards.append(proc)
    send(proc, wire.encode(wire.DATA, b"hello "), wire.encode(wire.HEARTBEAT),
         wire.encode(wire.DATA, b"world\n"), wire.encode(wire.EOF))
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read() == b"hello world\n"
    assert proc.stderr.read() == b"oops\n"
    assert proc.wait(10) == 3


def test_large_stdin_is_not_lost_when_the_command_reads_slowly(guards):
    proc = start_guard("sleep 0.3; wc -c")
    guards.append(proc)
    data = b"x" * (3 * 1024 * 1024)
    send(proc, *wire.data_records(data, 32 * 1024), wire.encode(wire.EOF))
    assert proc.stdout is not None
    assert proc.stdout.read().strip() == str(len(data)).encode()
    assert proc.wait(10) == 0


def test_heartbeat_loss_kills_the_tree_including_an_escaped_grandchild(guards):
    proc = start_guard("setsid sleep 300 & echo $!; sleep 300 & echo $!; wait", timeout=1)
    guards.append(proc)
    pids = read_pids(proc, 2)
    assert all(alive(pid) for pid in pids)
    assert proc.wait(20) == 255  # no heartbeat ever came
    assert wait_gone(pids) == []


def test_heartbeats_keep_a_quiet_command_alive(guards):
    proc = start_guard("sleep 2.5; echo done", timeout=1)
    guards.append(proc)
    while proc.poll() is None:
        try:
            send(proc, wire.encode(wire.HEARTBEAT))
        except BrokenPipeError:
            break
        time.sleep(0.1)
    assert proc.wait(10) == 0
    assert proc.stdout is not None and proc.stdout.read() == b"done\n"


def test_session_stdin_closing_without_eof_record_kills_the_tree(guards):
    proc = start_guard("setsid sleep 300 & echo $!; sleep 300")
    guards.append(proc)
    pids = read_pids(proc, 1)
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(20) == 255
    assert wait_gone(pids) == []


def test_signal_record_is_relayed_to_the_command_group(guards):
    proc = start_guard(
        "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    )
    guards.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    send(proc, wire.signal_record(signal.SIGTERM))
    assert proc.stdout.readline() == b"got TERM\n"
    assert proc.wait(10) == 7


def test_death_by_signal_is_128_plus_signal_and_guard_relays_its_own_signals(guards):
    proc = start_guard("echo ready; exec sleep 300")
    guards.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 128 + signal.SIGINT


def test_leftovers_are_ended_when_the_command_exits(guards):
    proc = start_guard("sleep 300 >/dev/null & echo $!")
    guards.append(proc)
    pids = read_pids(proc, 1)
    assert proc.wait(20) == 0
    assert wait_gone(pids) == []


def test_missing_command_and_usage(guards):
    argv = [sys.executable, "-m", "launchers.guard", "--", "/nonexistent/cmd"]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, stdin=subprocess.DEVNULL,
                            timeout=30)
    assert result.returncode == 127 and b"/nonexistent/cmd" in result.stderr
    result = subprocess.run([sys.executable, "-m", "launchers.guard", "--bogus"], cwd=REPO,
                            capture_output=True, timeout=30)
    assert result.returncode == 2 and b"usage" in result.stderr


def test_parse_args_and_exit_code():
    assert parse_args(["--heartbeat-timeout", "3", "--", "a", "b"]) == (3.0, 2.0, ["a", "b"])
    assert parse_args(["--grace", "0.5", "x"]) == (20.0, 0.5, ["x"])
    with pytest.raises(ValueError):
        parse_args(["--"])
    assert exit_code(3 << 8) == 3
    assert exit_code(signal.SIGKILL) == 128 + signal.SIGKILL


def test_descendants_finds_grandchildren():
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while not descendants(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        found = descendants(proc.pid)
        assert len(found) == 1 and found[0] != os.getpid()
    finally:
        for pid in descendants(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait(10)


def test_record_round_trip_and_bad_records():
    decoder = wire.RecordDecoder()
    stream = b"".join([wire.encode(wire.HEARTBEAT), *wire.data_records(b"abcdef", 8),
                       wire.signal_record(15)])
    got = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i : i + 1])
    assert got == [(b"H", b""), (b"D", b"abc"), (b"D", b"def"), (b"S", b"\x0f")]
    assert decoder.pending == 0
    with pytest.raises(ValueError):
        wire.RecordDecoder().feed(b"Z\x00\x00\x00\x00")
    assert wire.guard_argv(["sh", "-c", "x"], 20) == [
        "kubexec-guard", "--heartbeat-timeout", "20", "--", "sh", "-c", "x"]


def test_kill_record_ends_a_tree_that_ignores_signals(guards):
    proc = start_guard("trap '' TERM; setsid sh -c 'trap \"\" TERM; sleep 300' & echo $!; "
                       "echo ready; while :; do sleep 0.05; done", grace=0.5)
    guards.append(proc)
    pids = read_pids(proc, 1)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    send(proc, wire.signal_record(signal.SIGTERM))
    time.sleep(0.3)
    assert proc.poll() is None and alive(pids[0])  # TERM ignored
    send(proc, wire.encode(wire.KILL))
    assert proc.wait(20) == 255
    assert wait_gone(pids) == []
