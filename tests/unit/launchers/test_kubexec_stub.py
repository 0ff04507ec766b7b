"""kubexec end to end against the unit-test stub server (loopback, TLS with a throwaway CA).

The stub runs commands on this machine, so the real kubexec-guard runs too:
these tests cover the CLI, the transport and the guard together, offline.
The same behaviours are checked against the local cluster in
tests/integration/kubexec.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.launchers.stub_server import ServerThread, StubServer

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
# How these tests start kubexec; test_kubexec_front runs them again through the C front.
KUBEXEC = [sys.executable, "-m", "launchers.kubexec"]


def _start(tmp_path_factory, **kwargs) -> tuple[ServerThread, Path]:
    server = StubServer(env={"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
                        **kwargs)
    thread = ServerThread(server)
    thread.start()
    kubeconfig = tmp_path_factory.mktemp("kubexec") / "config"
    kubeconfig.write_text(server.kubeconfig())
    return thread, kubeconfig


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    thread, kubeconfig = _start(tmp_path_factory)
    yield thread.server, kubeconfig
    thread.stop()


@pytest.fixture(scope="module")
def stub_v4(tmp_path_factory):
    thread, kubeconfig = _start(tmp_path_factory, protocols=("v4.channel.k8s.io",),
                                field_selectors=False)
    yield thread.server, kubeconfig
    thread.stop()


def kubexec_env(kubeconfig: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBEXEC_", "NAMESPACE"))}
    env.update(KUBECONFIG=str(kubeconfig), PYTHONPATH=str(REPO), **extra)
    return env


def kubexec(kubeconfig: Path, *args: str, input: bytes = b"", **env: str):
    return subprocess.run([*KUBEXEC, *args], input=input,
                          capture_output=True, env=kubexec_env(kubeconfig, **env), timeout=60)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_command_output_and_status(stub):
    server, kc = stub
    result = kubexec(kc, "pod-a", "echo", "out;", "echo err >&2;", "exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    assert "command=kubexec-guard" in server.requests[-1]


def test_stdin_is_forwarded_and_closed(stub):
    _, kc = stub
    result = kubexec(kc, "pod-a", "cat", input=b"hi\n")
    assert (result.returncode, result.stdout) == (0, b"hi\n")


def test_dash_n_and_ssh_options_are_tolerated(stub):
    _, kc = stub
    result = kubexec(kc, "-x", "-T", "-n", "-q", "-o", "StrictHostKeyChecking=no", "-p", "22",
                     "-l", "mpiuser", "-oBatchMode=yes", "mpiuser@pod-a", "cat; echo end",
                     input=b"never read\n")
    assert (result.returncode, result.stdout) == (0, b"end\n")


def test_large_output_and_input_arrive_intact(stub):
    _, kc = stub
    data = os.urandom(700_000)
    result = kubexec(kc, "pod-b", "cat; head -c 300000 /dev/zero >&2", input=data)
    assert result.returncode == 0
    assert result.stdout == data and result.stderr == b"\0" * 300_000


@pytest.mark.parametrize(
    ("host", "words"),
    [("nope", ["nope", "no such pod", "namespace default"]),
     ("secret-pod", ["secret-pod", "forbidden"]),
     ("10.9.9.9", ["10.9.9.9", "no pod has IP"])],
)
def test_unreachable_pod_is_255_and_one_line(stub, host, words):
    _, kc = stub
    result = kubexec(kc, host, "true")
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kubexec: ")
    assert all(word in lines[0] for word in words), lines[0]


def test_bad_token_and_refused_connection(stub, tmp_path):
    server, kc = stub
    bad = tmp_path / "bad"
    bad.write_text(kc.read_text().replace("stub-token", "wrong"))
    result = kubexec(bad, "pod-a", "true")
    assert result.returncode == 255 and b"pod-a: unauthorized" in result.stderr
    refused = tmp_path / "refused"
    refused.write_text(kc.read_text().replace(f":{server.port}", ":1"))
    result = kubexec(refused, "pod-a", "true", KUBEXEC_RETRY_DEADLINE="0.5")
    assert result.returncode == 255
    message = result.stderr.decode()
    assert message.count("\n") == 1 and "pod-a" in message and "connection refused" in message


def test_untrusted_server_certificate_is_255_one_line_and_not_retried(stub, tmp_path):
    """A kubeconfig naming another CA: TLS verification fails, at once (no retry: a
    certificate that is not trusted now will not be trusted in a second either)."""
    import base64
    import json
    from ipaddress import IPv4Address

    from kube_pmix.local.tls import make_tls

    _, kc = stub
    config = json.loads(kc.read_text())
    other_ca = make_tls("other", [IPv4Address("127.0.0.1")]).ca_cert_pem
    config["clusters"][0]["cluster"]["certificate-authority-data"] = (
        base64.b64encode(other_ca).decode())
    untrusted = tmp_path / "untrusted"
    untrusted.write_text(json.dumps(config))
    start = time.monotonic()
    result = kubexec(untrusted, "pod-a", "true", KUBEXEC_RETRY_DEADLINE="10")
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "pod-a" in lines[0] and "not trusted" in lines[0], lines
    assert time.monotonic() - start < 5  # not retried up to the 10 s deadline


def test_pod_ip_and_fqdn_hosts(stub):
    server, kc = stub
    assert kubexec(kc, "10.9.0.2", "true").returncode == 0
    assert "/pods/pod-b/exec" in server.requests[-1]
    assert kubexec(kc, "pod-a.svc.other.svc.cluster.local", "true").returncode == 0
    assert "/namespaces/other/pods/pod-a/exec" in server.requests[-1]
    assert kubexec(kc, "--namespace", "n2", "pod-a", "true", NAMESPACE="n3").returncode == 0
    assert "/namespaces/n2/" in server.requests[-1]
    assert kubexec(kc, "pod-a", "true", NAMESPACE="n3").returncode == 0
    assert "/namespaces/n3/" in server.requests[-1]


def test_server_pings_are_answered(tmp_path_factory):
    thread, kc = _start(tmp_path_factory, ping_every=0.1)
    try:
        result = kubexec(kc, "pod-a", "sleep 1; echo still here")
        assert (result.returncode, result.stdout) == (0, b"still here\n"), result.stderr
    finally:
        thread.stop()


def test_v4_server_gets_stdin_eof_through_the_guard(stub_v4):
    server, kc = stub_v4
    result = kubexec(kc, "pod-a", "cat", input=b"over v4\n")
    assert (result.returncode, result.stdout) == (0, b"over v4\n")
    assert kubexec(kc, "10.9.0.1", "true").returncode == 0  # IP lookup without selectors


def test_no_guard_runs_plain_exec(stub):
    server, kc = stub
    result = kubexec(kc, "--no-guard", "pod-a", "cat", input=b"plain\n")
    assert (result.returncode, result.stdout) == (0, b"plain\n")
    assert "command=%2Fbin%2Fsh" in server.requests[-1]


def _start_sleeper(kc: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen(
        [*KUBEXEC, "pod-a", "sleep 300 & echo $!; wait"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=kubexec_env(kc, **env),
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def test_sigterm_to_kubexec_ends_the_remote_tree(stub):
    _, kc = stub
    proc, pid = _start_sleeper(kc)
    try:
        assert alive(pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert wait_gone(pid, 10)
    finally:
        proc.kill()
        proc.communicate()


def test_sigkill_to_kubexec_ends_the_remote_tree_after_the_heartbeat_timeout(stub):
    _, kc = stub
    timeout, grace = 1.5, 2.0  # grace: the guard's default TERM-to-KILL wait
    proc, pid = _start_sleeper(kc, KUBEXEC_HEARTBEAT_INTERVAL="0.2",
                               KUBEXEC_HEARTBEAT_TIMEOUT=str(timeout))
    try:
        time.sleep(1)  # longer than nothing, shorter than the timeout: heartbeats flowed
        assert alive(pid)
        proc.kill()
        proc.communicate()
        # the configured timeout ends it, not the default 20 s: slack for a loaded
        # machine, well below that
        assert wait_gone(pid, timeout + grace + 6)
    finally:
        proc.kill()


def test_help_and_usage_errors(stub):
    _, kc = stub
    result = kubexec(kc, "--help")
    assert result.returncode == 0 and b"--no-guard" in result.stdout
    result = kubexec(kc, "-Z", "pod-a")
    assert result.returncode == 255 and b"unknown option -Z" in result.stderr


def test_sigterm_ignored_remotely_still_ends_the_tree_after_the_signal_wait(stub):
    _, kc = stub
    proc = subprocess.Popen(
        [*KUBEXEC, "pod-a", "trap '' TERM; sleep 300 & echo $!; wait; wait"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=kubexec_env(kc, KUBEXEC_SIGNAL_WAIT="0.5"),
    )
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert wait_gone(pid, 15)  # the kill record, not the 20 s heartbeat timeout
    finally:
        proc.kill()
        proc.communicate()


def in_shell(kc: Path, line: str, timeout: float = 60, **env: str):
    """`line` run by bash, with KUBEXEC for the word `KUBEXEC` in it."""
    return subprocess.run(line.replace("KUBEXEC", shlex.join(KUBEXEC)), shell=True,
                          executable="/bin/bash", capture_output=True,
                          env=kubexec_env(kc, **env), timeout=timeout)


def test_closed_stdout_ends_an_endless_remote_command(stub):
    _, kc = stub
    result = in_shell(kc, "KUBEXEC pod-a 'echo $$ >&2; exec yes' | head -1; "
                          "echo ${PIPESTATUS[0]}")
    assert result.stdout.split() == [b"y", str(128 + signal.SIGPIPE).encode()]
    yes_pid = int(result.stderr.split()[0])  # the shell that became `yes`
    assert wait_gone(yes_pid, 15), "the remote yes is still running"


def test_slow_reader_keeps_heartbeats_and_gets_every_byte(stub):
    """Defect 1: a reader that pauses longer than the heartbeat timeout used to block
    kubexec's writes, stop its heartbeats, and get the remote job killed (255, silent)."""
    _, kc = stub
    result = in_shell(kc, "KUBEXEC pod-a 'head -c 20000000 /dev/zero' | (sleep 4; wc -c); "
                          "echo ${PIPESTATUS[0]}", timeout=120,
                      KUBEXEC_HEARTBEAT_TIMEOUT="2", KUBEXEC_HEARTBEAT_INTERVAL="0.5")
    assert result.stdout.split() == [b"20000000", b"0"], result.stderr


def test_closed_stdin_stdout_or_stderr_are_dev_null(stub):
    """As ssh (sanitise_stdfd): a closed 0, 1 or 2 is /dev/null, not a fd of ours that
    lands there (the exec pipe, the master's socket, its lock) nor a traceback."""
    _, kc = stub
    result = in_shell(kc, "KUBEXEC pod-a 'cat; echo end' <&-")
    assert (result.returncode, result.stdout) == (0, b"end\n"), result.stderr
    result = in_shell(kc, "KUBEXEC pod-a 'echo out; echo err >&2; exit 3' >&-")
    assert (result.returncode, result.stderr) == (3, b"err\n")
    result = in_shell(kc, "KUBEXEC nope true 2>&-")
    assert (result.returncode, result.stdout, result.stderr) == (255, b"", b"")


def test_heartbeat_interval_0_tells_the_guard_to_keep_no_deadline(stub):
    """Defect 1: interval 0 sent no heartbeats while the guard still enforced its timeout."""
    server, kc = stub
    result = kubexec(kc, "pod-a", "sleep 2; echo alive", KUBEXEC_HEARTBEAT_INTERVAL="0",
                     KUBEXEC_HEARTBEAT_TIMEOUT="1")
    assert (result.returncode, result.stdout) == (0, b"alive\n"), result.stderr
    assert "heartbeat-timeout&command=0&" in server.requests[-1]


def test_guard_exit_255_is_explained_on_stderr(stub):
    _, kc = stub
    result = kubexec(kc, "pod-a", "exit 255")
    assert result.returncode == 255
    assert b"kubexec-guard kills the tree" in result.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("KUBEXEC_CONNECT_TIMEOUT", "soon"), ("KUBEXEC_HEARTBEAT_INTERVAL", "-1"),
    ("KUBEXEC_RETRY_DEADLINE", "nan"), ("KUBEXEC_SIGNAL_WAIT", "3s")])
def test_bad_numeric_environment_is_refused(stub, name, value):
    """Defect 8: a bad KUBEXEC_CONNECT_TIMEOUT silently became 20 s."""
    server, kc = stub
    before = len(server.requests)
    result = kubexec(kc, "pod-a", "true", **{name: value})
    assert result.returncode == 255 and len(server.requests) == before
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and name in lines[0] and repr(value) in lines[0]


def test_empty_host_is_refused(stub):
    server, kc = stub
    before = len(server.requests)
    result = kubexec(kc, "", "pod-a", "true")
    assert result.returncode == 255 and len(server.requests) == before
    assert result.stderr.decode().splitlines() == [
        "kubexec: empty host name (kubexec --help for usage)"]


@pytest.mark.parametrize(("code", "after"), [(429, "1"), (503, None)])
def test_429_and_503_before_the_upgrade_are_retried(stub, code, after):
    """Defect 2: kubexec exited 255 on the first 429, even with Retry-After."""
    server, kc = stub
    server.refuse_with, server.refuse_first = (code, after), 2
    before = len(server.requests)
    start = time.monotonic()
    result = kubexec(kc, "pod-a", "echo once", KUBEXEC_RETRY_DEADLINE="30")
    assert (result.returncode, result.stdout) == (0, b"once\n"), result.stderr
    assert len(server.requests) - before == 3
    if after:
        assert time.monotonic() - start >= 2  # two Retry-After: 1 honoured


def test_retries_stop_at_the_deadline(stub):
    server, kc = stub
    server.refuse_with, server.refuse_first = (503, None), 1000
    try:
        result = kubexec(kc, "pod-a", "true", KUBEXEC_RETRY_DEADLINE="1")
    finally:
        server.refuse_first = 0
    assert result.returncode == 255 and b"HTTP 503" in result.stderr
    assert b"attempts)" in result.stderr and result.stderr.count(b"\n") == 1


@pytest.fixture(scope="module")
def stub_idle(tmp_path_factory):
    thread, kubeconfig = _start(tmp_path_factory, close_without_status_after=1.0)
    yield thread.server, kubeconfig
    thread.stop()


def test_no_guard_close_without_status_is_reported_not_exit_0(stub_idle):
    """Defect 7: an idle-timeout kill (Close, no status) under --no-guard exited 0."""
    _, kc = stub_idle
    result = kubexec(kc, "--no-guard", "pod-a", "sleep 30")
    assert result.returncode == 255
    assert b"exit status arrived (idle timeout?)" in result.stderr


def test_no_bearer_token_goes_to_a_plain_http_server(tmp_path_factory):
    """Defect 5: the token was sent in the clear to an http:// server."""
    thread, kc = _start(tmp_path_factory, tls=False)
    try:
        result = kubexec(kc, "10.9.0.1", "true")
        assert result.returncode == 0, result.stderr
        assert thread.server.authorization == [None, None]  # the IP lookup and the exec
    finally:
        thread.stop()


def _file_offset(pid: int, fd: int) -> int:
    for line in Path(f"/proc/{pid}/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("pos:"):
            return int(line.split()[1])
    raise AssertionError("no pos")


def _wait_stdin_stalled(pid: int, size: int) -> int:
    """Wait until `pid`'s stdin (a file, read by it or by the master's child it handed it
    to) is read to its end or stops moving for a second; its offset then."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < 1 and last < size:
        now = _file_offset(pid, 0)
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.05)
    return last


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stdin") / "zeros"
    with path.open("wb") as fh:
        fh.truncate(64 << 20)  # far more than every buffer between kubexec and the command
    return path


def test_no_guard_does_not_deadlock_on_stdin_the_command_reads_late(stub, big_file):
    """Defect 4: a blocking send waited for a command that first writes a lot and reads its
    stdin only then, while nobody read the command's output: both sides stuck (623 s)."""
    _, kc = stub
    result = in_shell(kc, f"KUBEXEC --no-guard pod-a 'head -c 30000000 /dev/zero; "
                          f"wc -c >&2' <{big_file} >/dev/null", timeout=120)
    assert (result.returncode, result.stderr) == (0, f"{64 << 20}\n".encode())


def _stalled_call(kc: Path, big_file: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
    """A call whose command reads no stdin while kubexec has 64 MiB to send: once the guard
    holds back and every buffer on the way is full, kubexec cannot send a byte more."""
    with big_file.open("rb") as stdin:
        proc = subprocess.Popen([*KUBEXEC, "pod-a", "echo $$; exec sleep 300"], stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=kubexec_env(kc, KUBEXEC_SIGNAL_WAIT="0.5", **env))
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    assert _wait_stdin_stalled(proc.pid, 64 << 20) < 64 << 20  # held back: stalled
    return proc, pid


def test_sigterm_is_not_stuck_behind_stdin_the_peer_does_not_take(stub, big_file):
    """Defect 4, guarded: with the socket full, a blocking send kept SIGTERM (and heartbeats,
    and the parent check) from being handled. Without heartbeats the guard keeps no
    deadline and never reads ahead, so nothing but kubexec's own loop can end this."""
    _, kc = stub
    proc, pid = _stalled_call(kc, big_file, KUBEXEC_HEARTBEAT_INTERVAL="0")
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.communicate()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # its records wait unread: the stub keeps stdin open


def test_signal_and_kill_records_behind_held_back_stdin_still_end_the_tree(stub, big_file):
    """The records wait behind the data; the guard reads ahead for a heartbeat once its
    deadline passes, and meets them."""
    _, kc = stub
    proc, pid = _stalled_call(kc, big_file, KUBEXEC_HEARTBEAT_TIMEOUT="2")
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert wait_gone(pid, 30)
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("host", ["pod-a", "nope"])
def test_output_pipes_keep_their_blocking_mode(stub, host):
    """kubexec writes a pipe without blocking; O_NONBLOCK on the pipe itself is shared with
    everyone holding it (a launcher, sibling kubexecs, which undid it for each other), so
    it must not be set, not even while the call runs."""
    _, kc = stub
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen([*KUBEXEC, host, "echo first; sleep 1; echo second"],
                                stdout=write_end, stderr=write_end, env=kubexec_env(kc))
        assert os.read(read_end, 4096)  # the call is under way (or has failed)
        assert os.get_blocking(write_end)
        assert proc.wait(60) == (0 if host == "pod-a" else 255)
        assert os.get_blocking(write_end)
    finally:
        os.close(read_end)
        os.close(write_end)
