"""kubexec against both test beds (the local cluster and the real Kubernetes one): from the
host with its kubeconfig, and from the login pod as the unprivileged pod user with
in-cluster config (as PRRTE runs it). The idle-timeout test needs the local cluster's
fault switch, and runs there only."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest

MARK = "3141"  # `sleep 3141`: finds our remote processes among the pod's


def kubexec_bin(cluster) -> str:
    return str(Path(cluster.venv) / "bin" / "kubexec")


def host_env(kubeconfig: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBEXEC_", "NAMESPACE"))}
    env.update(KUBECONFIG=kubeconfig, **extra)
    return env


def from_host(cluster, *args: str, input: bytes = b"", kubeconfig: Optional[str] = None,
              **env: str):
    return subprocess.run([kubexec_bin(cluster), *args], input=input, capture_output=True,
                          env=host_env(kubeconfig or cluster.kubeconfig, **env), timeout=60)


def in_login(cluster, script: str, input: Optional[str] = None):
    return cluster.pod_exec(cluster.login_pod, ["/bin/sh", "-c", script], input=input,
                            timeout=60)


def marked_pids(cluster, pod: str) -> list[int]:
    found = []
    for pid in cluster.pod_pids(pod):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", MARK.encode()]:
            found.append(pid)
    return found


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_hostname_from_host_and_from_login_pod(cluster):
    pod = cluster.compute_pods[0]
    result = from_host(cluster, pod, "hostname")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{pod}\n".encode(), b"")
    result = in_login(cluster, f"kubexec {pod} hostname")
    assert (result.returncode, result.stdout) == (0, f"{pod}\n"), result.stderr


def test_stdin_forwarded(cluster):
    pod = cluster.compute_pods[0]
    result = in_login(cluster, f"echo hi | kubexec {pod} cat")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    data = os.urandom(200_000)
    result = from_host(cluster, pod, "cat", input=data)
    assert result.returncode == 0 and result.stdout == data


def test_stdout_stderr_apart_and_exit_status(cluster):
    pod = cluster.compute_pods[1]
    result = from_host(cluster, pod, "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    result = in_login(cluster, f"kubexec {pod} 'echo out; echo err >&2; exit 3' 2>/dev/null")
    assert (result.returncode, result.stdout) == (3, "out\n")


def test_missing_pod_is_255_and_one_line(cluster):
    result = from_host(cluster, "hpc-cn-999", "true")  # admin: may exec anywhere
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "hpc-cn-999" in lines[0] and "no such pod" in lines[0]
    # under the manifests' Role (exec limited by name to the compute pods), the apiserver
    # authorizes before it looks the pod up: 403, as on a real cluster
    result = in_login(cluster, "kubexec hpc-cn-999 true")
    assert result.returncode == 255
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "hpc-cn-999" in lines[0] and "forbidden" in lines[0]


def test_forbidden_is_255(cluster):
    pod = cluster.compute_pods[0]
    result = from_host(cluster, pod, "true", kubeconfig=cluster.restricted_kubeconfig)
    assert result.returncode == 255
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and pod in lines[0] and "forbidden" in lines[0]


def test_host_as_fqdn_and_as_pod_ip(cluster):
    pod = cluster.compute_pods[1]
    fqdn = f"{pod}.hpc-cluster.{cluster.namespace}.svc.cluster.local"
    ip = cluster.ip(pod)
    result = in_login(cluster, f"kubexec {fqdn} hostname; kubexec {ip} hostname")
    assert (result.returncode, result.stdout) == (0, f"{pod}\n{pod}\n"), result.stderr


def test_ssh_options_as_prrte_passes_them(cluster):
    pod = cluster.compute_pods[0]
    result = in_login(
        cluster,
        f"kubexec -x -T -q -o StrictHostKeyChecking=no -o BatchMode=yes -p 22 -l mpiuser "
        f"{pod} PRTE_X=1';'export PRTE_X';'echo '$PRTE_X $(hostname)'",
    )
    assert (result.returncode, result.stdout.split()) == (0, ["1", pod]), result.stderr


def _start_remote_sleep(cluster, pod: str, **env: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [kubexec_bin(cluster), pod, f"sleep {MARK} & sleep {MARK}; wait"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env=host_env(cluster.kubeconfig, **env),
    )
    if not wait_for(lambda: len(marked_pids(cluster, pod)) == 2, 30):
        proc.kill()
        proc.communicate()
        pytest.fail(f"remote sleeps never appeared in {pod}")
    return proc


def test_sigterm_to_kubexec_ends_the_remote_tree(cluster):
    pod = cluster.compute_pods[0]
    proc = _start_remote_sleep(cluster, pod)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert wait_for(lambda: not marked_pids(cluster, pod), 15)
    finally:
        proc.kill()
        proc.communicate()


def _guard_argv(cluster, pod: str) -> list[str]:
    """The argv of the kubexec-guard running our marked sleeps in `pod`."""
    for pid in cluster.pod_pids(pod):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if Path(argv[0]).name == "kubexec-guard" and f"sleep {MARK}" in " ".join(argv):
            return argv
    return []


def test_sigkill_to_kubexec_ends_the_remote_tree_within_the_heartbeat_timeout(cluster):
    pod = cluster.compute_pods[1]
    timeout, grace = 3, 2  # grace: the guard's default TERM-to-KILL wait
    proc = _start_remote_sleep(cluster, pod, KUBEXEC_HEARTBEAT_INTERVAL="0.5",
                               KUBEXEC_HEARTBEAT_TIMEOUT=str(timeout))
    try:
        # the configured timeout is what the guard keeps (the default is 20 s)
        argv = _guard_argv(cluster, pod)
        assert argv[1:3] == ["--heartbeat-timeout", str(timeout)], argv
    finally:
        proc.kill()
        proc.communicate()
    # The real API server forwards no close to the command, so only the missing
    # heartbeats end it: within the timeout plus the grace. The slack is for a loaded
    # machine and stays well below the default timeout, which must not be what ends it.
    assert wait_for(lambda: not marked_pids(cluster, pod), timeout + grace + 7)


@pytest.mark.cluster
def test_quiet_command_outlives_a_short_exec_idle_timeout(cluster_factory):
    cluster = cluster_factory(nodes=1, idle_timeout=2)
    pod = cluster.compute_pods[0]
    result = from_host(cluster, pod, "sleep 5; echo done", KUBEXEC_HEARTBEAT_INTERVAL="0.5")
    assert (result.returncode, result.stdout) == (0, b"done\n"), result.stderr
    # without heartbeats the server cuts the session: reported, never taken for success
    result = from_host(cluster, pod, "sleep 4", KUBEXEC_HEARTBEAT_INTERVAL="60",
                       KUBEXEC_HEARTBEAT_TIMEOUT="5")
    assert result.returncode == 255 and b"before the exit status" in result.stderr


def test_orphaned_kubexec_ends_the_remote_tree(cluster):
    """A launcher that dies without killing its agents (prterun after an abort) must
    not leave daemons behind: the orphaned kubexec notices and ends the remote tree."""
    pod = cluster.compute_pods[2]
    launcher = subprocess.Popen(
        ["/bin/sh", "-c", f'"$0" {pod} "sleep {MARK} & sleep {MARK}; wait" & sleep 60',
         kubexec_bin(cluster)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=host_env(cluster.kubeconfig, KUBEXEC_HEARTBEAT_INTERVAL="0.5",
                     KUBEXEC_SIGNAL_WAIT="1"),
    )
    try:
        assert wait_for(lambda: len(marked_pids(cluster, pod)) == 2, 30)
        launcher.kill()  # its kubexec child is reparented, nobody signals it
        launcher.wait()
        assert wait_for(lambda: not marked_pids(cluster, pod), 30)
    finally:
        launcher.kill()
        launcher.wait()


def test_control_master_in_the_login_pod(cluster):
    """KUBEXEC_CONTROL_PERSIST as PRRTE's agent would run it: in-cluster config, pod user."""
    pod = cluster.compute_pods[0]
    result = in_login(
        cluster,
        "export KUBEXEC_CONTROL_PERSIST=5; "
        f"kubexec {pod} 'echo out; echo err >&2; exit 3'; echo rc=$?; kubexec {pod} hostname; "
        'd=${XDG_RUNTIME_DIR:-/tmp}/kubexec-$(id -u); stat -c %a "$d"; '
        'kill -0 $(cat "$d"/master-*.lock) && echo master-alive',
    )
    words = result.stdout.split()
    # a directory made under an fsGroup volume (a real pod's home) inherits its setgid bit
    assert words[:3] + [int(words[3], 8) & 0o777] + words[4:] == [
        "out", "rc=3", pod, 0o700, "master-alive"], result.stderr
    assert result.stderr == "err\n"


def test_orphaned_kubexec_through_the_master_ends_the_remote_tree(cluster, tmp_path):
    """The control client watches its own parent, as the direct path does."""
    pod = cluster.compute_pods[-1]
    tmp_path.chmod(0o700)
    launcher = subprocess.Popen(
        ["/bin/sh", "-c", f'"$0" {pod} "sleep {MARK} & sleep {MARK}; wait" & sleep 60',
         kubexec_bin(cluster)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=host_env(cluster.kubeconfig, KUBEXEC_HEARTBEAT_INTERVAL="0.5",
                     KUBEXEC_SIGNAL_WAIT="1", KUBEXEC_CONTROL_PERSIST="2",
                     XDG_RUNTIME_DIR=str(tmp_path)),
    )
    try:
        assert wait_for(lambda: len(marked_pids(cluster, pod)) == 2, 30)
        assert list(tmp_path.glob("kubexec-*/master-*.sock")), "no master was used"
        launcher.kill()  # its kubexec child is reparented, nobody signals it
        launcher.wait()
        assert wait_for(lambda: not marked_pids(cluster, pod), 30)
    finally:
        launcher.kill()
        launcher.wait()
        for lock in tmp_path.glob("kubexec-*/master-*.lock"):
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(lock.read_text()), signal.SIGTERM)


def test_stdin_eof_reaches_the_remote_command(cluster):
    """The remote `cat` sees the end of our stdin and the command goes on after it."""
    pod = cluster.compute_pods[0]
    result = from_host(cluster, pod, "cat; echo done", input=b"x")
    assert (result.returncode, result.stdout) == (0, b"xdone\n"), result.stderr


def test_dash_n_gives_the_remote_command_no_stdin(cluster):
    """ssh -n: stdin from /dev/null, whatever ours holds (PRRTE passes it for daemons)."""
    pod = cluster.compute_pods[1]
    result = from_host(cluster, "-n", pod, "cat; echo done", input=b"not for the pod")
    assert (result.returncode, result.stdout) == (0, b"done\n"), result.stderr


def test_a_slow_reader_gets_every_byte_past_the_heartbeat_timeout(cluster, request):
    """Output is held back by flow control, not lost, while our reader sleeps longer than
    the guard's heartbeat timeout: heartbeats go on from kubexec's loop."""
    if request.node.callspec.params.get("cluster") == "k8s":
        # Kubernetes' own defect (kubernetes/kubernetes#124571, "kubectl exec truncates
        # stdout without reporting error"): measured on the real bed, six runs of this
        # command, two without heartbeats: 16.0 MB then exit 0 without a word, and all
        # 20 MB; four with them: 8.1 and 17.2 MB, then "session closed before the exit
        # status" (kubexec at least says so), and all 20 MB twice.
        request.applymarker(pytest.mark.xfail(
            reason="real bed: the API path may drop a paused reader's output "
                   "(kubernetes/kubernetes#124571; docs/real-kubernetes.md)", strict=False))
    pod = cluster.compute_pods[-1]
    result = in_login(
        cluster, f"KUBEXEC_HEARTBEAT_INTERVAL=0.5 KUBEXEC_HEARTBEAT_TIMEOUT=3 "
        f"kubexec {pod} 'head -c 20000000 /dev/zero' | (sleep 8; wc -c); echo rc=$?")
    assert result.stdout.split() == ["20000000", "rc=0"], result.stderr


def test_sigkill_to_kubexec_while_its_command_writes_ends_the_remote_tree(cluster):
    """The session carries data when kubexec dies, so the runtime SIGKILLs the process the
    exec started (containerd does; the local cluster too): the guard's sentinel. The guard
    below it must still end the tree; seen on the real bed before it had a sentinel: the
    command ran on under the pod's pid 1."""
    pod = cluster.compute_pods[0]
    with subprocess.Popen(["sleep", "600"], stdin=subprocess.PIPE) as reader:
        proc = subprocess.Popen(
            [kubexec_bin(cluster), pod, f"head -c 200000000 /dev/zero; sleep {MARK}"],
            stdin=subprocess.DEVNULL, stdout=reader.stdin, stderr=subprocess.DEVNULL,
            env=host_env(cluster.kubeconfig, KUBEXEC_HEARTBEAT_TIMEOUT="60"))
        try:
            # the command writes into a reader that never reads: the session is busy
            assert wait_for(lambda: any(_argv(p)[:1] == [b"head"]
                                        for p in cluster.pod_pids(pod)), 30)
            time.sleep(1)
            proc.kill()
            proc.wait()
            # far below the 60 s heartbeat timeout: the sentinel's death ends the tree
            assert wait_for(lambda: not [p for p in cluster.pod_pids(pod) if _is_ours(p)], 20)
        finally:
            proc.kill()
            proc.wait()
            reader.kill()


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _is_ours(pid: int) -> bool:
    """head of our command, or its `sleep MARK` (the pods' idle loop sleeps too)."""
    argv = _argv(pid)
    return argv[:1] == [b"head"] or argv[:2] == [b"sleep", MARK.encode()]
