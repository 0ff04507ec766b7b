"""plm/k8sgo and ess/k8sgo when things go wrong: the run ends, says where, leaves nothing.

One 4-pod cluster for the module; each test uses its own hosts (`--host`), so
a pod deleted by one test is not one another test needs. "Nothing left" is:
no prted and no rank in the pods, no launcher and no host file in the login pod.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.k8sgo_jobs import (
    ENDS_WITHIN,
    LAUNCHER_NAME,
    end_job,
    hostfiles_left,
    in_login,
    k8sgo_prologue,
    launchers_left,
    leftovers,
    pids_named,
    pids_running,
    start_sleeping_job,
)

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]

NODES = 4
BAD_ID_LAUNCHER = Path(__file__).resolve().with_name("bad_id_launcher.sh")
EARLY_EXIT_LAUNCHER = Path(__file__).resolve().with_name("early_exit_launcher.sh")
LINGERING_LAUNCHER = Path(__file__).resolve().with_name("lingering_launcher.sh")


@pytest.fixture(scope="module")
def fragile_cluster(prrte_k8sgo: Path) -> Iterator:
    """Its pods run the PRRTE with plm/k8sgo (built first: the pods get it at `up`)."""
    from tests.fixtures.cluster import own_cluster

    with own_cluster("kp-k8sgo-fail", NODES) as cluster:
        yield cluster


def hostname_job(cluster, prologue: str, hosts: list[str],
                 what: str) -> subprocess.CompletedProcess[str]:
    """`prterun --host HOSTS ... hostname`; a run that does not end within ENDS_WITHIN
    fails the test (its prterun ended first)."""
    try:
        return in_login(cluster, prologue
                        + f"prterun --host {','.join(hosts)} --map-by ppr:1:node hostname")
    except subprocess.TimeoutExpired:
        end_job(cluster)
        pytest.fail(f"prterun did not exit within {ENDS_WITHIN:.0f} s ({what})")


def test_pod_missing_at_launch(fragile_cluster):
    cluster = fragile_cluster
    hosts = [cluster.compute_pods[0], cluster.compute_pods[3]]
    victim = hosts[1]
    cluster.delete_pod(victim)
    result = hostname_job(cluster, k8sgo_prologue(), hosts, f"{victim} missing")
    assert result.returncode != 0
    assert victim in result.stderr, result.stderr
    assert leftovers(cluster, hosts[:1]) == {}


def open_objects(pid: int, first: int = 0) -> set[str]:
    """What descriptors >= first of `pid` point to: socket:[N], pipe:[N], paths (anonymous
    inodes such as each process's own epoll all read alike, so they are left out)."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        if int(fd.name) >= first:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if not target.startswith("anon_inode:"):
                found.add(target)
    return found


def signal_masks(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {k: int(v, 16) for k, v in re.findall(r"^(SigBlk|SigIgn):\s*([0-9a-f]+)$",
                                                    status, re.M)}


def test_the_launcher_holds_no_descriptor_of_prteruns(fragile_cluster):
    """As plm/ssh starts its agents: beyond its stdio, host list (3) and lifeline (4) the
    launcher holds no descriptor of prterun's (here two that prterun's shell left open:
    PRRTE's own are close-on-exec), and it ignores SIGTTOU (see the stty tostop test)."""
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    held = "exec 7</etc/hosts 8>/tmp/held-by-prterun; "
    job = start_sleeping_job(cluster, hosts, k8sgo_prologue() + held)
    try:
        launcher = pids_running(cluster, cluster.login_pod, LAUNCHER_NAME)
        prterun = pids_named(cluster, [cluster.login_pod], "prterun")[cluster.login_pod]
        assert len(launcher) == 1 and len(prterun) == 1, (launcher, prterun)
        shared = open_objects(launcher[0], first=5) & open_objects(prterun[0])
        masks = signal_masks(launcher[0])
    finally:
        end_job(cluster)
        job.wait(ENDS_WITHIN, "it was ended")
    assert shared == set()
    assert masks["SigIgn"] & 1 << (signal.SIGTTOU - 1)
    assert leftovers(cluster, hosts) == {}


def test_pod_deleted_mid_job(fragile_cluster):
    cluster = fragile_cluster
    hosts = [cluster.compute_pods[0], cluster.compute_pods[2]]
    victim = hosts[1]
    job = start_sleeping_job(cluster, hosts)
    cluster.delete_pod(victim)
    result = job.wait(ENDS_WITHIN, f"{victim} was deleted")
    assert result.returncode != 0, result.stderr
    assert victim in result.stdout + result.stderr, result.stderr
    assert leftovers(cluster, hosts[:1]) == {}


def test_launcher_killed(fragile_cluster):
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    job = start_sleeping_job(cluster, hosts)
    launcher = pids_running(cluster, cluster.login_pod, LAUNCHER_NAME)
    assert len(launcher) == 1, launcher
    killed = time.monotonic()
    os.kill(launcher[0], signal.SIGKILL)
    result = job.wait(ENDS_WITHIN, "its launcher was killed")
    assert result.returncode != 0
    assert "was killed by signal 9" in result.stderr, result.stderr
    assert all(pod in result.stderr for pod in hosts), result.stderr
    assert time.monotonic() - killed < ENDS_WITHIN
    assert leftovers(cluster, hosts) == {}


@pytest.mark.parametrize("bad_id, says", [
    ("unset", "has no PRTE_ESS_K8SGO_ID in its environment"),
    ("two", 'has PRTE_ESS_K8SGO_ID="two", which is not a'),
    ("7", "has PRTE_ESS_K8SGO_ID=7, which is out of range"),
])
def test_ess_refuses_a_bad_id(fragile_cluster, bad_id: str, says: str):
    """A launcher that gets the id wrong: every daemon says so, and the run ends."""
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    prologue = k8sgo_prologue({"launch_script": str(BAD_ID_LAUNCHER)}, env={"BAD_ID": bad_id})
    result = hostname_job(cluster, prologue, hosts, f"PRTE_ESS_K8SGO_ID {bad_id}")
    assert result.returncode != 0
    assert says in result.stderr, result.stderr
    # the first daemon to refuse ends the launch: at least its pod is named
    assert any(f"daemon on {pod} has" in result.stderr for pod in hosts), result.stderr
    assert not launchers_left(cluster)
    assert leftovers(cluster, hosts) == {}


def run_fails_naming(cluster, prologue: str, hosts: list[str], victim: str,
                     what: str) -> subprocess.CompletedProcess[str]:
    """prterun on `hosts` must fail, within ENDS_WITHIN, naming `victim`; nothing left."""
    result = hostname_job(cluster, prologue, hosts, what)
    assert result.returncode != 0, result.stdout
    assert victim in result.stderr, result.stderr
    assert leftovers(cluster, hosts) == {}
    return result


@pytest.mark.parametrize("status, env, says", [
    # K8SGO_KEEP_GOING=1 would keep the other daemons up after one failed before calling
    # back; prterun learns of that failure only from the launcher ending: plm/k8sgo must
    # run its launcher fail-fast whatever the environment says
    ("3", {"K8SGO_KEEP_GOING": "1"}, "exit status 3"),
    # a daemon exiting 0 before calling back has failed just the same
    ("0", {}, "exited with status 0 while the launch still needed it"),
], ids=["keep-going-inherited", "exit-0-before-callback"])
def test_a_daemon_gone_before_calling_back_ends_the_run(fragile_cluster, status: str,
                                                       env: dict, says: str):
    hosts = fragile_cluster.compute_pods[:2]  # pods 2 and 3 are deleted by the tests above
    prologue = k8sgo_prologue({"launch_script": str(EARLY_EXIT_LAUNCHER)},
                              env={"EARLY_ID": "1", "EARLY_STATUS": status, **env})
    result = run_fails_naming(fragile_cluster, prologue, hosts, hosts[1],
                              f"daemon 1 exited {status} at once, env {env}")
    assert f"{hosts[1]}: {says}" in result.stderr


def test_a_daemon_failing_while_the_others_start_fails_the_run_with_its_cause(fragile_cluster):
    """Daemon 1 fails 3 s in, after the others called back: PRRTE loses the daemons the
    launcher then ends, and quits. The run's status is a failure of its own (1), never the
    launcher's 143 from our SIGTERM nor PRRTE's 250 (its -6, "fatal"), and the launcher's
    line names the host and its status."""
    hosts = fragile_cluster.compute_pods[:2]
    prologue = k8sgo_prologue({"launch_script": str(EARLY_EXIT_LAUNCHER)},
                              env={"EARLY_ID": "1", "EARLY_STATUS": "3", "EARLY_DELAY": "3"})
    result = run_fails_naming(fragile_cluster, prologue, hosts, hosts[1], "a late failure")
    assert result.returncode == 1, result.stderr
    assert f"{hosts[1]}: exit status 3" in result.stderr


def test_keep_going_among_the_launch_args_is_refused(fragile_cluster):
    hosts = fragile_cluster.compute_pods[:2]
    result = hostname_job(fragile_cluster, k8sgo_prologue({"launch_args": "--keep-going"}),
                          hosts, "--keep-going among the launch args")
    assert result.returncode != 0
    assert "plm/k8sgo cannot run its launcher with --keep-going" in result.stderr, result.stderr
    assert result.stdout == ""
    assert leftovers(fragile_cluster, hosts) == {}


@pytest.mark.parametrize("launcher", ["basic_launcher", "lingering"])
def test_prterun_killed_mid_job_leaves_nothing(fragile_cluster, launcher: str):
    """SIGKILL (or the third ^C): prterun cannot finalize. Its daemons lose their HNP and
    exit; a daemon that would not (the lingering launcher's sleep on) is ended by the
    launcher once prterun's lifeline closes; the host list was never a file. Within
    ENDS_WITHIN s: no prted and no rank in the pods, no launcher and no host file."""
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    prologue = (k8sgo_prologue() if launcher == "basic_launcher"
                else k8sgo_prologue({"launch_script": str(LINGERING_LAUNCHER)}))
    job = start_sleeping_job(cluster, hosts, prologue)
    assert hostfiles_left(cluster) == []  # unlinked as soon as it was written
    prterun = pids_named(cluster, [cluster.login_pod], "prterun").get(cluster.login_pod, [])
    assert len(prterun) == 1, prterun
    os.kill(prterun[0], signal.SIGKILL)
    result = job.wait(ENDS_WITHIN, "it was killed")
    assert result.returncode != 0
    assert leftovers(cluster, hosts, within=ENDS_WITHIN) == {}


def test_prterun_at_a_terminal_under_stty_tostop(fragile_cluster):
    """At a terminal with `stty tostop`, the launcher (a process group of its own, so a ^C
    reaches prterun first) writes its line and its daemons' output there. It must not be
    stopped by SIGTTOU: its heartbeats would stop, and every guard would end its daemon.
    The ranks outlive the guards' heartbeat timeout (3 s here) twice over."""
    cluster = fragile_cluster
    hosts = cluster.compute_pods[:2]
    prologue = k8sgo_prologue(env={"K8SGO_HEARTBEAT_INTERVAL": "1",
                                   "K8SGO_HEARTBEAT_TIMEOUT": "3"})
    job = (prologue + f"prterun --host {','.join(hosts)} --map-by ppr:1:node "
           "sh -c 'sleep 6; hostname'")
    command = f"script -qec {shlex.quote('stty tostop; ' + job)} /dev/null"
    try:
        result = in_login(cluster, command, timeout=120)
    except subprocess.TimeoutExpired:
        end_job(cluster)
        pytest.fail("prterun hung at a terminal under stty tostop")
    assert result.returncode == 0, result.stdout
    assert sorted(line.strip() for line in result.stdout.splitlines()
                  if line.strip() in hosts) == sorted(hosts), result.stdout
    assert leftovers(cluster, hosts) == {}
