"""kubexec-guard (the C binary in the venv) run locally, fed framed records on its stdin."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from launchers.exec import guardwire as wire

REPO = Path(__file__).resolve().parents[3]
# built by the kubexec_guard fixture (tests/fixtures/guard.py) if missing or stale
GUARD = str(Path(sys.executable).parent / wire.GUARD_COMMAND)


def start_guard(script: str, timeout: float = 30, grace: float = 1,
                options: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    argv = [GUARD, "--heartbeat-timeout", str(timeout), "--grace", str(grace), *options, "--",
            "/bin/sh", "-c", script]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)


def guard_says(proc: subprocess.Popen[bytes]) -> str:
    """What the guard (not the command) wrote on stderr."""
    assert proc.stderr is not None
    lines = proc.stderr.read().decode().splitlines()
    return "\n".join(line for line in lines if line.startswith("kubexec-guard:"))


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def guard_under(sentinel: int, timeout: float = 10) -> int:
    """The guard proper: the child the exec's process (the sentinel) forked."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if parent_of(int(entry.name)) == sentinel:
                        return int(entry.name)
                except (OSError, ValueError, IndexError):
                    continue
        time.sleep(0.01)
    raise AssertionError(f"no guard under the sentinel {sentinel}")


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
        if proc.poll() is None:  # a failed test: leave nothing of its tree behind
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            # a record still buffered for a guard that has exited: its flush hits EPIPE
            with contextlib.suppress(BrokenPipeError):
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


# A kubexec stand-in: frames TOTAL bytes of stdin as D records on its stdout, then an E
# record, and sends a heartbeat every 0.2 s from a thread until its stdout breaks.
WRITER = """
import os, sys, threading, time
sys.path.insert(0, sys.argv[2])
from launchers.exec import guardwire as wire
lock = threading.Lock()
def put(record):
    with lock:
        os.write(1, record)
def beat():
    while True:
        put(wire.encode(wire.HEARTBEAT))
        time.sleep(0.2)
threading.Thread(target=beat, daemon=True).start()
for record in wire.data_records(b"x" * int(sys.argv[1]), 32 * 1024):
    put(record)
put(wire.encode(wire.EOF))
time.sleep(300)
"""


def framed_writer(total: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(total), str(REPO)],
                            stdout=subprocess.PIPE)


def guard_fed_by(writer: subprocess.Popen[bytes], script: str,
                 timeout: float = 30) -> subprocess.Popen[bytes]:
    argv = [GUARD, "--heartbeat-timeout", str(timeout), "--grace", "1", "--",
            "/bin/sh", "-c", script]
    proc = subprocess.Popen(argv, stdin=writer.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert writer.stdout is not None
    writer.stdout.close()  # the guard holds the only read end
    return proc


def written(pid: int) -> int:
    """Bytes `pid` has written so far (its I/O accounting)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar")


def wait_stalled(pid: int, total: int) -> int:
    """Wait until `pid` has written all of `total` or stopped writing for a second."""
    last, since = -1, time.monotonic()
    deadline = since + 60
    while time.monotonic() < deadline:
        now = written(pid)
        if now >= total:
            return now
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 1:
            return now
        time.sleep(0.05)
    return written(pid)


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_stdin_the_command_does_not_read_is_held_back_not_buffered(guards):
    """Defect 1: the guard read whatever came (200 MiB made a 206 MB guard). Now it stops
    reading at its cap, and the writer is held back by the full pipe."""
    total = 64 << 20
    writer = framed_writer(total)
    proc = guard_fed_by(writer, "echo ready; exec sleep 300")
    guards.extend([proc, writer])
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    sent = wait_stalled(writer.pid, total)
    assert sent < total // 4, f"the guard took {sent} bytes of stdin nobody read"
    assert peak_rss_kib(guard_under(proc.pid)) < 16 * 1024


def test_heartbeats_held_back_with_stdin_do_not_count_as_missing(guards):
    """While the guard holds stdin back, the heartbeats queue behind the data: the
    command (which reads only after 3 s) must not be killed for a 1 s timeout."""
    total = 8 << 20
    writer = framed_writer(total)
    proc = guard_fed_by(writer, "sleep 3; wc -c", timeout=1)
    guards.extend([proc, writer])
    assert proc.stdout is not None
    assert proc.stdout.read().strip() == str(total).encode()
    assert proc.wait(30) == 0, guard_says(proc)


def test_a_session_that_ends_while_stdin_is_held_back_ends_the_tree(guards):
    """No deadline is kept while stdin is held back, so the hang-up must be seen."""
    writer = framed_writer(8 << 20)
    proc = guard_fed_by(writer, "echo $$; exec sleep 300")
    guards.extend([proc, writer])
    pids = read_pids(proc, 1)
    wait_stalled(writer.pid, 8 << 20)
    writer.kill()
    writer.wait()
    assert proc.wait(20) == 255
    assert wait_gone(pids) == []
    assert "session lost (stdin closed without an EOF record)" in guard_says(proc)


def test_heartbeat_loss_kills_the_tree_including_an_escaped_grandchild(guards):
    # a real double fork: the inner sh starts sleep in a session of its own and
    # exits at once, so the sleep is re-parented to the guard (its subreaper),
    # outside the command's process group
    proc = start_guard("setsid sh -c 'sleep 300 & echo $!'; sleep 300 & echo $!; wait",
                       timeout=1)
    guards.append(proc)
    pids = read_pids(proc, 2)
    assert all(alive(pid) for pid in pids)
    escaped = pids[0]
    guard = guard_under(proc.pid)
    deadline = time.monotonic() + 10
    while parent_of(escaped) != guard and time.monotonic() < deadline:
        time.sleep(0.02)
    assert parent_of(escaped) == guard, "the escaped grandchild was not re-parented"
    assert os.getsid(escaped) != os.getsid(pids[1])
    assert proc.wait(20) == 255  # no heartbeat ever came
    assert wait_gone(pids) == []
    assert guard_says(proc) == (
        "kubexec-guard: no heartbeat from kubexec for 1 s: ending /bin/sh -c "
        "setsid sh -c 'sleep 300 & echo $!'; sleep 300 & echo $!; wait")


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
    assert guard_says(proc).startswith("kubexec-guard: session lost (stdin closed without an "
                                       "EOF record): ending /bin/sh -c setsid sleep 300")


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
    assert proc.wait(30) == 0  # the command's status, after LINGER s for its leftovers
    assert wait_gone(pids) == []
    assert "exited but left processes running for 10 s: ending them" in guard_says(proc)


def run_guard(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([GUARD, *args], input=stdin, capture_output=True, timeout=30)


def test_missing_command_and_usage():
    result = run_guard("--", "/nonexistent/cmd")
    assert result.returncode == 127 and result.stderr == (
        b"kubexec-guard: cannot run /nonexistent/cmd: No such file or directory\n")
    result = run_guard("--", "/dev/null")
    assert result.returncode == 126 and b"cannot run /dev/null" in result.stderr
    for bad in (["--bogus"], ["--"], [], ["--grace"], ["--grace", "soon", "true"],
                ["--heartbeat-timeout", "", "true"], ["--env"], ["--env", "NAME", "true"],
                ["--env", "=VALUE", "true"]):
        result = run_guard(*bad)
        assert result.returncode == 2, bad
        assert result.stderr.startswith(b"kubexec-guard: ") and b"usage:" in result.stderr
    result = run_guard("--help")
    assert result.returncode == 0 and result.stdout.startswith(b"usage: kubexec-guard ")


def test_env_reaches_the_command_and_nothing_else_of_its_words(guards):
    """The launcher's per-daemon id goes through --env, not through an env(1) in front:
    the command sees it (a value with '=' and spaces whole), and its argv is untouched."""
    proc = subprocess.Popen([GUARD, "--env", "PRTE_ESS_K8SGO_ID=7", "--env", "ODD=a=b c",
                             "--", "sh", "-c", 'echo "$PRTE_ESS_K8SGO_ID|$ODD|$0|$1"', "x y"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    guards.append(proc)
    send(proc, wire.encode(wire.EOF))
    assert proc.wait(20) == 0
    assert proc.stdout is not None and proc.stdout.read() == b"7|a=b c|x y|\n"
    assert wire.guard_argv(["prted"], 30, env={"PRTE_ESS_K8SGO_ID": "7"}) == [
        "kubexec-guard", "--heartbeat-timeout", "30", "--env", "PRTE_ESS_K8SGO_ID=7", "--",
        "prted"]


def test_options_without_separator_and_no_deadline(guards):
    # `--` is optional before a command that is not an option; 0 means no deadline
    proc = subprocess.Popen([GUARD, "--grace", "0.5", "--heartbeat-timeout", "0", "sh", "-c",
                             "cat; sleep 1; echo done"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    guards.append(proc)
    send(proc, wire.encode(wire.DATA, b"x"), wire.encode(wire.EOF))
    assert proc.wait(20) == 0  # no heartbeat came, and none was needed
    assert proc.stdout is not None and proc.stdout.read() == b"xdone\n"
    assert guard_says(proc) == ""


def test_the_command_gets_default_signals_and_an_empty_mask(guards):
    """The guard blocks and ignores signals for itself; none of that may leak into the command."""
    script = "exec grep -E '^Sig(Blk|Ign)' /proc/self/status"
    proc = start_guard(script)
    guards.append(proc)
    send(proc, wire.encode(wire.EOF))
    assert proc.stdout is not None
    fields = dict(line.split(":") for line in proc.stdout.read().decode().splitlines())
    assert proc.wait(10) == 0
    assert int(fields["SigBlk"], 16) == 0
    ignored = int(fields["SigIgn"], 16)
    for signo in (signal.SIGPIPE, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        assert not ignored & (1 << (signo - 1)), signo


def test_a_bad_record_ends_the_session(guards):
    proc = start_guard("echo ready; exec sleep 300")
    guards.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    send(proc, b"Z\x00\x00\x00\x00")
    assert proc.wait(20) == 255
    assert "session lost (bad record kind=0x5a)" in guard_says(proc)


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
    proc = start_guard("trap '' TERM; setsid sh -c 'trap \"\" TERM; sleep 300' & echo $!\n"
                       "echo ready; while :; do sleep 0.05; done" + " " * 300, grace=0.5)
    guards.append(proc)
    pids = read_pids(proc, 1)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    send(proc, wire.signal_record(signal.SIGTERM))
    time.sleep(0.3)
    assert proc.poll() is None and alive(pids[0])  # TERM ignored
    send(proc, wire.encode(wire.KILL))
    assert proc.wait(20) == 255
    assert wait_gone(pids) == []
    said = guard_says(proc)
    assert said.startswith("kubexec-guard: kill requested by kubexec: ending /bin/sh -c trap")
    # one line: the script's newline became a space, and the long script is cut short
    assert "echo $! echo ready" in said and said.endswith("...") and len(said) < 300


def test_backed_up_output_holds_the_heartbeat_deadline_until_it_drains(guards):
    """A slow reader: on a real cluster the heartbeats queue behind the output it has not
    taken (both directions share the connections through the API server and the kubelet),
    so while the command's output is backed up their absence kills nothing. Once it
    drains and still no heartbeat comes, the tree ends."""
    proc = start_guard("sleep 300 & echo $!; head -c 300000 /dev/zero >&2; wait", timeout=1)
    guards.append(proc)
    pids = read_pids(proc, 1)
    time.sleep(3.5)  # three deadlines pass while stderr is full
    assert proc.poll() is None and alive(pids[0])
    assert proc.stderr is not None
    drained = proc.stderr.read(300000)  # the reader catches up
    assert drained == b"\0" * 300000
    assert proc.wait(20) == 255
    assert wait_gone(pids) == []
    assert "no heartbeat from kubexec for 1 s" in proc.stderr.read().decode()


def test_a_session_lost_while_output_is_backed_up_ends_the_tree(guards):
    proc = start_guard("sleep 300 & echo $!; head -c 300000 /dev/zero >&2; wait", timeout=1)
    guards.append(proc)
    pids = read_pids(proc, 1)
    assert proc.stdin is not None
    proc.stdin.close()  # the session's stdin ends without an EOF record: kubexec is gone
    assert proc.wait(20) == 255
    assert wait_gone(pids) == []


def test_a_writer_that_stops_while_stdin_is_held_back_is_seen_by_reading_ahead(guards):
    """kubexec gone, the pipe still open (a kubelet may leave a dropped session's stdin
    open): the guard reads ahead for a heartbeat, finds the pipe dry for a whole
    timeout, and ends the tree, however long the command leaves its stdin unread."""
    writer = framed_writer(8 << 20)
    proc = guard_fed_by(writer, "echo $$; exec sleep 300", timeout=1)
    guards.extend([proc, writer])
    pids = read_pids(proc, 1)
    wait_stalled(writer.pid, 8 << 20)
    writer.send_signal(signal.SIGSTOP)  # alive for the kernel, silent for the guard
    try:
        assert proc.wait(30) == 255
        assert wait_gone(pids) == []
        assert "no heartbeat from kubexec for 1 s" in guard_says(proc)
    finally:
        writer.send_signal(signal.SIGCONT)


@pytest.fixture(scope="module")
def sanitized_guard(tmp_path_factory) -> str:
    """The guard built with AddressSanitizer and UBSan, any finding fatal."""
    binary = tmp_path_factory.mktemp("asan") / "kubexec-guard"
    build = subprocess.run(["cc", "-O1", "-g", "-std=gnu11", "-fsanitize=address,undefined",
                            "-fno-sanitize-recover=all", "-o", str(binary),
                            str(REPO / "guard" / "kubexec-guard.c")],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    return str(binary)


def _streams() -> list[bytes]:
    """Framed streams cut anywhere, bad kinds and lengths, garbage."""
    import random

    rng = random.Random(18)
    valid = b"".join([wire.encode(wire.HEARTBEAT), *wire.data_records(os.urandom(70000), 999),
                      wire.encode(wire.SIGNAL, b""), wire.signal_record(0),
                      wire.signal_record(signal.SIGWINCH), wire.encode(wire.SIGNAL, b"\x1c\xff")])
    streams = [valid + wire.encode(wire.EOF), valid, b"", b"D", b"D\xff\xff\xff\xff",
               b"D\x00\x10\x00\x01" + b"x" * 64, b"\x00" * 5, valid + b"K\x00\x00\x00\x07"]
    for _ in range(24):
        cut = rng.randrange(len(valid))
        streams.append(valid[:cut] + bytes(rng.randrange(256) for _ in range(rng.randrange(12))))
    return streams


def test_the_record_parser_is_clean_under_asan_and_ubsan(sanitized_guard):
    """What the review confirmed, kept: no memory or undefined-behaviour finding on any
    stream, however cut; each ends as a complete session or as a lost one."""
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1"}
    for stream in _streams():
        result = subprocess.run([sanitized_guard, "--heartbeat-timeout", "5", "--grace", "0.2",
                                 "--", "/bin/sh", "-c", "cat >/dev/null"],
                                input=stream, capture_output=True, timeout=60, env=env)
        said = result.stderr.decode(errors="replace")
        assert "Sanitizer" not in said and "runtime error" not in said, said
        # without an E record `cat` never sees EOF: only the guard can have ended it
        ends = (0, 255) if stream.endswith(wire.encode(wire.EOF)) else (255,)
        assert result.returncode in ends, (result.returncode, said)


def test_the_exec_process_killed_ends_the_tree(guards):
    """containerd SIGKILLs the process an exec started when the session's stream ends: that
    is the sentinel, and the guard below it ends the tree (seen on the real test bed: a
    guard that was that process died and left its command running under the pod's pid 1)."""
    proc = start_guard("sleep 300 & echo $!; wait", timeout=0)
    guards.append(proc)
    (pid,) = read_pids(proc, 1)
    guard = guard_under(proc.pid)
    proc.kill()
    proc.wait(10)
    assert wait_gone([pid, guard]) == []
    assert guard_says(proc) == (
        "kubexec-guard: session lost (the exec's process was killed): ending "
        "/bin/sh -c sleep 300 & echo $!; wait")


def test_a_signal_to_the_exec_process_reaches_the_command(guards):
    proc = start_guard("trap 'echo got-term; exit 7' TERM; echo ready; "
                       "while :; do sleep 0.1; done", timeout=0)
    guards.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 7
    assert proc.stdout.read() == b"got-term\n"


def test_detach_ends_the_session_with_0_and_leaves_the_command_running(guards):
    """The X record (--detachable): the exec's process exits 0 and nothing holds the exec's
    streams any more, while the command runs on, heartbeats or not, still under its guard,
    which goes once the command has (docs/scaling.md: closing the sessions)."""
    proc = start_guard("echo $$; echo to-stderr >&2; exec sleep 300", timeout=1,
                       options=("--detachable",))
    guards.append(proc)
    (pid,) = read_pids(proc, 1)  # relayed through the guard's pipe
    guard = guard_under(proc.pid)
    try:
        send(proc, wire.encode(wire.HEARTBEAT), wire.encode(wire.DETACH))
        assert proc.wait(10) == 0
        assert proc.stdout is not None and proc.stdout.read() == b""  # EOF: released
        assert proc.stderr is not None and proc.stderr.read() == b"to-stderr\n"
        time.sleep(2.5)  # past the heartbeat timeout: none is expected any more
        assert alive(pid) and alive(guard)
        assert parent_of(pid) == guard
        os.kill(pid, signal.SIGTERM)
        assert wait_gone([pid, guard]) == []
    finally:
        for leftover in (pid, guard):
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)


def test_a_detach_record_to_a_guard_that_is_not_detachable_ends_the_tree(guards):
    """Without --detachable the command writes to the exec's streams itself, which would
    hold the exec open: such a guard cannot detach, and says the record is not for it."""
    proc = start_guard("echo $$; exec sleep 300")
    guards.append(proc)
    (pid,) = read_pids(proc, 1)
    send(proc, wire.encode(wire.DETACH))
    assert proc.wait(10) == 255
    assert wait_gone([pid]) == []
    assert "bad record kind=0x58" in guard_says(proc)


def test_only_the_guard_releases_the_exec_process(guards):
    """The release signal from anyone but its own guard is not a detach: the session goes
    on (and a guard that is not detachable installs no release at all)."""
    proc = start_guard("echo $$; exec sleep 300", options=("--detachable",))
    guards.append(proc)
    (pid,) = read_pids(proc, 1)
    guard = guard_under(proc.pid)
    try:
        os.kill(proc.pid, signal.SIGUSR1)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(1)
        assert alive(pid)
        send(proc, wire.encode(wire.DETACH))
        assert proc.wait(10) == 0
    finally:
        for leftover in (pid, guard):
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
