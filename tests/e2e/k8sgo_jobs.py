"""PRRTE jobs launched by plm/k8sgo in the login pod, and what they may leave behind.

The login pod's own environment has the PRRTE built by `make prrte-k8sgo` first on
PATH and as PRTE_PREFIX (kube_pmix/local/podenv.py); `k8sgo_prologue` adds the
FAQ's line, `export PRTE_MCA_plm_k8sgo_launch_script=/opt/hpc/bin/basic_launcher`,
and any further `plm_k8sgo_<name>` settings, as a user of the paper's images types them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Mapping

import pytest

from kube_pmix.local.layout import POD_BASIC_LAUNCHER

LAUNCHER_NAME = "basic_launcher"
HOSTFILE_GLOB = "/tmp/prte-k8sgo-hosts.*"
# How long a job may take to end once it has been told (or has lost a part).
ENDS_WITHIN = 30.0


def k8sgo_prologue(mca: Mapping[str, str] = {}, env: Mapping[str, str] = {}) -> str:
    """`export ...; ` for a bash command line: the FAQ's launch script, `plm_k8sgo_<name>`."""
    settings = {
        "PRTE_MCA_plm_k8sgo_launch_script": POD_BASIC_LAUNCHER,
        **{f"PRTE_MCA_plm_k8sgo_{name}": value for name, value in mca.items()},
        **env,
    }
    # double quotes: spaces stay in one word
    return "export " + " ".join(f'{k}="{v}"' for k, v in settings.items()) + "; "


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def pids_running(cluster, pod: str, program: str) -> list[int]:
    """Pids in `pod` running `program`, directly or through its interpreter (python, bash)."""
    return [pid for pid in cluster.pod_pids(pod)
            if any(os.path.basename(word) == program for word in _argv(pid)[:2])]


def pids_named(cluster, pods, comm: str) -> dict[str, list[int]]:
    """Per pod, the pids whose command name is `comm` (e.g. prted, sleep)."""
    found: dict[str, list[int]] = {}
    for pod in pods:
        for pid in cluster.pod_pids(pod):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if name == comm:
                found.setdefault(pod, []).append(pid)
    return found


def wait_for(check, timeout: float, interval: float = 0.2):
    """Poll `check()` until it returns something truthy; its last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = check()
    return value


def launchers_left(cluster) -> list[int]:
    return pids_running(cluster, cluster.login_pod, LAUNCHER_NAME)


def hostfiles_left(cluster) -> list[str]:
    """plm/k8sgo's host files in the login pod's private /tmp."""
    done = cluster.pod_exec(cluster.login_pod, f"ls -1 {HOSTFILE_GLOB} 2>/dev/null; true")
    return done.stdout.split()


def leftovers(cluster, pods, within: float = 30) -> dict[str, object]:
    """What a finished job left after up to `within` s: daemons, ranks, launcher, host file."""
    def now() -> dict[str, object]:
        found: dict[str, object] = {
            "prted": pids_named(cluster, pods, "prted"),
            "sleep": pids_named(cluster, pods, "sleep"),
            "launcher": launchers_left(cluster),
            "hostfiles": hostfiles_left(cluster),
        }
        return {k: v for k, v in found.items() if v}

    deadline = time.monotonic() + within
    left = now()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = now()
    return left


def kill_in_pod(cluster, pod: str, comm: str, sig: int = signal.SIGKILL) -> list[int]:
    """Signal the processes named `comm` in `pod`, by pid (test clean-up); the pids."""
    pids = pids_named(cluster, [pod], comm).get(pod, [])
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    return pids


def in_login(cluster, command: str, timeout: float = ENDS_WITHIN):
    return cluster.pod_exec(cluster.login_pod, ["/bin/bash", "-c", command], timeout=timeout)


def end_job(cluster) -> None:
    """After a test that failed: no prterun of ours may outlive it."""
    kill_in_pod(cluster, cluster.login_pod, "prterun")


class Background:
    """A prterun started in the login pod; `wait(within)` its result, or fail the test."""

    def __init__(self, cluster, command: str) -> None:
        self.cluster = cluster
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.future = self.pool.submit(in_login, cluster, command, 300)

    def wait(self, within: float, what: str) -> subprocess.CompletedProcess[str]:
        try:
            return self.future.result(timeout=within)
        except concurrent.futures.TimeoutError:
            end_job(self.cluster)
            pytest.fail(f"prterun did not exit within {within:.0f} s after {what}")
        finally:
            self.pool.shutdown(wait=True)


def start_sleeping_job(cluster, hosts: list[str], prologue: str = "") -> Background:
    """`sleep 60` on each host, once every rank runs."""
    job = Background(cluster, (prologue or k8sgo_prologue())
                     + f"prterun --host {','.join(hosts)} --map-by ppr:1:node sleep 60")
    running = wait_for(lambda: len(pids_named(cluster, hosts, "sleep")) == len(hosts), 60)
    if not running:
        end_job(cluster)
        pytest.fail(f"the ranks did not start on {hosts}: {job.wait(30, 'the start')}")
    return job
