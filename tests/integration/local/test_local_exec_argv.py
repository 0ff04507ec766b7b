"""Defect 9: exec'd processes get the pod's environment, but never on an argv (which every
user of the machine reads in `ps`)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

MARK = "3142"


def _processes_with(mark: str) -> dict[int, list[bytes]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if mark.encode() in argv:
                found[int(entry.name)] = argv
    return found


def test_the_pod_environment_is_not_on_any_argv(local_cluster):
    pod = local_cluster.compute_pods[2]
    client = subprocess.Popen(["kubectl", "--kubeconfig", local_cluster.kubeconfig, "exec", pod,
                               "--", "sleep", MARK], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        chain: dict[int, list[bytes]] = {}
        while time.monotonic() < deadline:
            chain = {p: a for p, a in _processes_with(MARK).items() if p != client.pid}
            if any(a[:2] == [b"sleep", MARK.encode()] for a in chain.values()):
                break
            time.sleep(0.1)
        sleeper = next(p for p, a in chain.items() if a[:2] == [b"sleep", MARK.encode()])
        assert len(chain) >= 2, chain  # the sleep and the nsenter that waits for it
        for argv in chain.values():
            assert not any(b"=" in word for word in argv if word.startswith(b"PRTE_")
                           or word.startswith(b"KUBERNETES_")), argv
            assert not any(word.startswith((b"PATH=", b"HOME=", b"PRTE_MCA")) for word in argv)
        environ = Path(f"/proc/{sleeper}/environ").read_bytes().split(b"\0")
        assert b"PRTE_MCA_plm_ssh_agent=kubexec" in environ
        assert f"HOSTNAME={pod}".encode() in environ
    finally:
        local_cluster.pod_exec(pod, f"pkill -f '^sleep {MARK}$'; true")
        client.wait(timeout=30)
