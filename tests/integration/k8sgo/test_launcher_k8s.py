"""k8sgo-launcher over the exec API of a real (local) cluster: ids, failures, teardown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.k8sgo import (
    LAUNCHER,
    STANDIN,
    expected_line,
    launcher_env,
    read_up_lines,
    run_launcher,
    start_launcher,
    wait_nothing_left,
    write_hostfile,
)

pytestmark = pytest.mark.cluster

# Quotes, `;`, `$` and spaces: PRRTE's argv carries such words and they must arrive intact.
WORDS = ["a b", "q'uo\"te", ";", "$HOME", ""]
# A guard gives up 3 s after the last heartbeat, then TERM + its grace: allow for a slow machine.
LEFTOVER_WAIT = 20.0


def host_forms(cluster: Any) -> list[str]:
    """Every way a hostfile may name the pods, with slots tokens and comments around."""
    ns = cluster.namespace
    forms = []
    for i, pod in enumerate(cluster.compute_pods):
        form = (pod, f"{pod}.hpc-cluster", f"{pod}.hpc-cluster.{ns}",
                f"{pod}.hpc-cluster.{ns}.svc.cluster.local", cluster.ip(pod))[i % 5]
        forms.append(f"{form} slots=4" if i % 2 else form)
    return ["# compute pods", "", *forms[:8], "   ", *forms[8:]]


def test_order_ids_and_argv_on_16_pods_past_the_idle_timeout(k8sgo_cluster: Any,
                                                             tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, host_forms(k8sgo_cluster))
    # Silent for longer than the cluster's idle timeout before printing and exiting 0.
    args = ["sleep:5", *WORDS, "exit:all:0"]
    trace = tmp_path / "trace.jsonl"
    done = run_launcher(k8sgo_cluster, hostfile, [STANDIN, *args],
                        env={"K8SGO_TRACE": str(trace)})
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines(keepends=True)) == sorted(
        expected_line(pod, i, args) for i, pod in enumerate(pods))
    assert f"{len(pods)} daemons started over k8s" in done.stderr
    # the trace: each daemon's slot, open session and exit, after the one pod list; and
    # every exec connection resumed the pod list's TLS session (no certificate work)
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    names = [e["ev"] for e in events]
    assert names[:3] == ["start", "imported", "prepared"] and names[-1] == "end"
    for i in range(len(pods)):
        assert [e["ev"] for e in events if e.get("i") == i] == ["setup", "open", "exit"]
    assert all(e["status"] == 0 for e in events if e["ev"] == "exit")
    times = [e["t"] for e in events]
    assert times[1:] == sorted(times[1:])  # written as they happened
    end = events[-1]
    assert end["cpu_s"] > 0 and end["maxrss_mb"] > 0
    assert end["tls_offered"] == end["tls_resumed"] == len(pods)


def test_quiet_prints_nothing_of_its_own(k8sgo_cluster: Any, tmp_path: Path) -> None:
    hostfile = write_hostfile(tmp_path, k8sgo_cluster.compute_pods[:2])
    done = run_launcher(k8sgo_cluster, hostfile, [STANDIN, "exit:all:0"], quiet=True)
    assert done.returncode == 0
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 2


def test_missing_pod_is_refused_before_anything_starts(k8sgo_cluster: Any,
                                                      tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, [pods[0], "hpc-cn-404", pods[1]])
    done = run_launcher(k8sgo_cluster, hostfile, [STANDIN])
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        f"k8sgo-launcher: hpc-cn-404: no pod hpc-cn-404 in namespace {k8sgo_cluster.namespace}"]
    assert done.stdout == ""


def test_daemon_exiting_3_is_reported_and_the_rest_ended(k8sgo_cluster: Any,
                                                        tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, pods)
    done = run_launcher(k8sgo_cluster, hostfile, [STANDIN, "exit:5:3"])
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert [e for e in errors if "exit status" in e] == [
        f"k8sgo-launcher: {pods[5]}: exit status 3"]
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)


def test_three_workers_start_every_line_with_its_id_and_report_as_one(
        k8sgo_cluster: Any, tmp_path: Path) -> None:
    """--workers 3: each worker holds a slice of the 16 lines, ids unchanged; one progress
    line for all; the trace has each worker's END and the parent's, with every CPU."""
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, pods)
    trace = tmp_path / "trace.jsonl"
    done = run_launcher(k8sgo_cluster, hostfile, [STANDIN, *WORDS, "exit:all:0"],
                        env={"K8SGO_WORKERS": "3", "K8SGO_TRACE": str(trace)})
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines(keepends=True)) == sorted(
        expected_line(pod, i, [*WORDS, "exit:all:0"]) for i, pod in enumerate(pods))
    said = [line for line in done.stderr.splitlines() if "daemons started" in line]
    assert len(said) == 1 and said[0].endswith("by 3 workers"), done.stderr
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    assert sorted(e["i"] for e in events if e["ev"] == "open") == list(range(len(pods)))
    ends = [e for e in events if e["ev"] == "end"]
    assert len(ends) == 4 and ends[-1]["workers"] == 3
    assert ends[-1]["cpu_s"] >= sum(e["cpu_s"] for e in ends[:-1])


def test_a_failure_in_one_worker_ends_the_daemons_of_all(k8sgo_cluster: Any,
                                                        tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, pods)
    done = run_launcher(k8sgo_cluster, hostfile, [STANDIN, "exit:5:3"],
                        env={"K8SGO_WORKERS": "3"})
    assert done.returncode == 1
    errors = done.stderr.splitlines()
    assert [e for e in errors if "exit status" in e] == [
        f"k8sgo-launcher: {pods[5]}: exit status 3"]
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)


def test_cut_connection_reports_its_host_and_leaves_nothing(k8sgo_cluster: Any,
                                                           tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods[:4]
    hostfile = write_hostfile(tmp_path, pods)
    proc = start_launcher(k8sgo_cluster, hostfile, [STANDIN])
    try:
        assert len(read_up_lines(proc, len(pods))) == len(pods)
        port = Path(k8sgo_cluster.kubeconfig).read_text().split("server: https://127.0.0.1:")[1]
        port = port.split()[0]
        sockets = subprocess.run(["ss", "-Htn", "state", "established", f"dport = :{port}"],
                                 capture_output=True, text=True, check=True).stdout.split()
        # One of the launcher's streams (local address column): reset it under its feet.
        local = [w for w in sockets if w.startswith("127.0.0.1:") and not w.endswith(port)][0]
        subprocess.run(["ss", "-K", "-tn", f"sport = :{local.rsplit(':', 1)[1]}",
                        f"dport = :{port}"], capture_output=True, check=True)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1
    broken = [line for line in err.splitlines() if "session broke" in line]
    assert len(broken) == 1, err
    assert broken[0].split(": ")[1] in pods
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)


def test_sigterm_ends_every_daemon_within_5_s(k8sgo_cluster: Any, tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, pods)
    proc = start_launcher(k8sgo_cluster, hostfile, [STANDIN])
    try:
        assert len(read_up_lines(proc, len(pods))) == len(pods)
        time.sleep(4)  # past the idle timeout: the sessions are still there to end
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert took < 5, f"exit took {took:.1f} s"
    assert "SIGTERM: ended 16 daemons" in err
    # The daemons were ended through their guards, not left to the heartbeat timeout.
    assert not wait_nothing_left(k8sgo_cluster, pods, 2.0)


def test_sigkill_leaves_nothing_past_the_heartbeat_timeout(k8sgo_cluster: Any,
                                                          tmp_path: Path) -> None:
    pods = k8sgo_cluster.compute_pods
    hostfile = write_hostfile(tmp_path, pods)
    proc = start_launcher(k8sgo_cluster, hostfile, [STANDIN])
    try:
        assert len(read_up_lines(proc, len(pods))) == len(pods)
        assert wait_nothing_left(k8sgo_cluster, pods, 0) != {}
        proc.kill()
        proc.wait()
    finally:
        proc.kill()
        proc.wait()
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)


def test_pod_deleted_while_its_daemon_runs(cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(nodes=2)
    hostfile = write_hostfile(tmp_path, cluster.compute_pods)
    proc = start_launcher(cluster, hostfile, [STANDIN])
    try:
        assert len(read_up_lines(proc, 2)) == 2
        cluster.delete_pod(cluster.compute_pods[1])
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1
    failed = [line for line in err.splitlines() if cluster.compute_pods[1] in line]
    assert len(failed) == 1, err
    assert not wait_nothing_left(cluster, cluster.compute_pods[:1], LEFTOVER_WAIT)


def test_a_tenth_of_exec_requests_answered_429_are_retried(cluster_factory: Any,
                                                           tmp_path: Path) -> None:
    # Every 10th pods/exec request is refused with 429 (Retry-After: 1), before any upgrade.
    cluster = cluster_factory(nodes=10, exec_errors={429: 0.1})
    hostfile = write_hostfile(tmp_path, cluster.compute_pods)
    done = run_launcher(cluster, hostfile, [STANDIN, "exit:all:0"])
    assert done.returncode == 0, done.stderr
    # Each daemon started exactly once: a retry happens only before the upgrade.
    assert sorted(done.stdout.splitlines(keepends=True)) == sorted(
        expected_line(pod, i, ["exit:all:0"]) for i, pod in enumerate(cluster.compute_pods))
    # With less time than the 429's Retry-After (1 s) a set-up gives up: the 429s were there.
    # One set-up at a time, so that each has its 0.9 s to itself on a busy machine.
    refused = run_launcher(cluster, hostfile, [STANDIN, "exit:all:0"],
                           env={"K8SGO_RETRY_DEADLINE": "0.9", "K8SGO_CONCURRENCY": "1"})
    assert refused.returncode == 1
    assert "not started" in refused.stderr and "429" in refused.stderr, refused.stderr


def test_a_stalled_reader_of_our_output_does_not_stop_the_heartbeats(
        k8sgo_cluster: Any, tmp_path: Path) -> None:
    """Our stdout is a pipe nobody reads for longer than the guards' heartbeat timeout
    (3 s here) while each daemon prints 3 MB (prterun piped into a pager, or
    --debug-daemons), then runs on past that timeout: the daemons live, and every byte
    arrives once it is read."""
    pods = k8sgo_cluster.compute_pods[:2]
    hostfile = write_hostfile(tmp_path, pods)
    size = 3_000_000
    script = (f"head -c {size} /dev/zero | tr '\\0' x; echo; sleep 6; "
              "echo done-$PRTE_ESS_K8SGO_ID")
    proc = subprocess.Popen([LAUNCHER, "-q", "-f", hostfile, "--", "sh", "-c", script],
                            env=launcher_env(k8sgo_cluster), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(8)  # the pipe is full within milliseconds; nobody reads it meanwhile
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.count(b"x") == 2 * size
    assert sorted(line for line in out.split(b"\n") if line.startswith(b"done-")) == [
        b"done-0", b"done-1"]


def start_with_lifeline(cluster: Any, hostfile: str, argv: list[str]
                        ) -> tuple[subprocess.Popen[str], int]:
    """The launcher as plm/k8sgo starts it: a lifeline pipe whose write end we hold."""
    read_end, write_end = os.pipe()
    env = launcher_env(cluster, {"K8SGO_LIFELINE_FD": str(read_end)})
    proc = subprocess.Popen([LAUNCHER, "-f", hostfile, "--", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            pass_fds=(read_end,))
    os.close(read_end)
    return proc, write_end


def test_with_a_lifeline_a_daemon_exiting_0_early_fails_the_launch(k8sgo_cluster: Any,
                                                                  tmp_path: Path) -> None:
    """prterun would wait forever for that daemon's callback: the launcher must end."""
    pods = k8sgo_cluster.compute_pods[:4]
    hostfile = write_hostfile(tmp_path, pods)
    proc, lifeline = start_with_lifeline(k8sgo_cluster, hostfile, [STANDIN, "exit:2:0"])
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(lifeline)
        proc.kill()
        proc.wait()
    assert proc.returncode == 1, err
    assert f"{pods[2]}: exited with status 0 while the launch still needed it" in err
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)


def test_the_lifelines_end_lets_daemons_exit_then_ends_the_rest(k8sgo_cluster: Any,
                                                               tmp_path: Path) -> None:
    """EOF on the lifeline (prterun ended the daemons, or died): exits are expected, and
    what still runs a few seconds later is ended; nothing is left."""
    pods = k8sgo_cluster.compute_pods[:4]
    hostfile = write_hostfile(tmp_path, pods)
    proc, lifeline = start_with_lifeline(k8sgo_cluster, hostfile, [STANDIN])
    try:
        assert proc.stdout is not None
        assert len([proc.stdout.readline() for _ in pods]) == len(pods)
        os.close(lifeline)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    # the stand-ins never exit by themselves: ended once the wait after the EOF was over
    assert proc.returncode == 1, err
    assert "ended 4 daemons still running" in err
    assert not wait_nothing_left(k8sgo_cluster, pods, LEFTOVER_WAIT)
