"""wait-for-pods' pure parts: pod classification, ordering, hostfile text and files,
the timeout message, and the resolver against the real system resolver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from launchers.waitfor.pods import (
    PodState,
    WaitTimeout,
    chosen,
    dns_name,
    hostfile_text,
    pod_ordinal,
    pod_state,
    system_resolver,
    write_hostfiles,
)


def _pod(name: str, phase: str = "Running", ready: bool = True, ip: str = "10.0.0.1",
         **status: Any) -> dict[str, Any]:
    conditions = [{"type": "PodScheduled", "status": "True"},
                  {"type": "Ready", "status": "True" if ready else "False"}]
    body: dict[str, Any] = {"phase": phase, "conditions": conditions, **status}
    if ip:
        body["podIP"] = ip
    return {"metadata": {"name": name}, "status": body}


def test_ready_running_pod_with_ip() -> None:
    assert pod_state(_pod("hpc-cn-0")) == PodState("hpc-cn-0", "10.0.0.1", True, "")


def test_ready_without_ip_is_not_usable() -> None:
    state = pod_state(_pod("hpc-cn-0", ip=""))
    assert not state.ready and state.reason == "Ready but has no IP yet"


def test_unschedulable_pod_says_why() -> None:
    pod = _pod("hpc-cn-3", phase="Pending", ready=False, ip="")
    pod["status"]["conditions"][0] = {
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient github.com/fuse.",
    }
    assert pod_state(pod).reason == (
        "Pending, unschedulable: 0/3 nodes are available: 3 Insufficient github.com/fuse."
    )


def test_crashloop_names_container_and_restarts() -> None:
    pod = _pod("hpc-cn-1", ready=False, containerStatuses=[{
        "name": "hpc-node", "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
    }])
    assert pod_state(pod).reason == (
        "Running, CrashLoopBackOff (container hpc-node, 4 restarts): back-off 40s"
    )


def test_image_pull_failure_while_pending() -> None:
    pod = _pod("hpc-cn-2", phase="Pending", ready=False, ip="", containerStatuses=[{
        "name": "hpc-node", "state": {"waiting": {"reason": "ImagePullBackOff"}},
    }])
    assert pod_state(pod).reason == "Pending, ImagePullBackOff (container hpc-node, 0 restarts)"


def test_plain_pending_and_running_not_ready_and_terminating() -> None:
    assert pod_state(_pod("a-0", phase="Pending", ready=False, ip="")).reason == "Pending"
    pending_init = _pod("a-0", phase="Pending", ready=False, ip="", initContainerStatuses=[
        {"name": "init", "state": {"waiting": {"reason": "PodInitializing"}}}])
    assert pod_state(pending_init).reason == "Pending, PodInitializing (container init)"
    assert pod_state(_pod("a-1", ready=False)).reason == "Running, not Ready"
    gone = _pod("a-2")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert pod_state(gone) == PodState("a-2", "10.0.0.1", False, "Terminating")
    failed = _pod("a-3", phase="Failed", ready=False, containerStatuses=[
        {"name": "c", "state": {"terminated": {"exitCode": 137}}}])
    assert pod_state(failed).reason == "Failed, container c exited 137"


def test_ordinal_order_not_name_order() -> None:
    states = {n: PodState(n, f"10.0.0.{i}", True) for i, n in
              enumerate(["hpc-cn-10", "hpc-cn-2", "hpc-cn-1", "odd"])}
    assert [s.name for s in chosen(states, 3)] == ["hpc-cn-1", "hpc-cn-2", "hpc-cn-10"]
    assert pod_ordinal("odd") > pod_ordinal("hpc-cn-999999")
    states["hpc-cn-2"] = PodState("hpc-cn-2", "", False, "Pending")
    assert [s.name for s in chosen(states, 5)] == ["hpc-cn-1", "hpc-cn-10", "odd"]


def test_hostfile_text() -> None:
    assert hostfile_text(["a", "b"]) == "a\nb\n"
    assert hostfile_text(["a", "b"], 4) == "a slots=4\nb slots=4\n"
    assert hostfile_text([]) == ""


def test_write_hostfiles_in_order_with_format(tmp_path: Path) -> None:
    pods = [PodState("hpc-cn-0", "10.1.0.5", True), PodState("hpc-cn-1", "10.1.0.3", True)]
    out = tmp_path / "etc"
    hostfile, hostfile_ip = write_hostfiles(out, pods, 2, "{pod}.{service}.{namespace}",
                                            "hpc-cluster", "kube-pmix")
    assert hostfile.read_text() == ("hpc-cn-0.hpc-cluster.kube-pmix slots=2\n"
                                    "hpc-cn-1.hpc-cluster.kube-pmix slots=2\n")
    assert hostfile_ip.read_text() == "10.1.0.5 slots=2\n10.1.0.3 slots=2\n"
    assert sorted(p.name for p in out.iterdir()) == ["hostfile", "hostfile_ip"]  # no temp left
    assert hostfile.stat().st_mode & 0o777 == 0o644


def test_timeout_message_names_pods_and_reasons() -> None:
    err = WaitTimeout(wanted=3, timeout=5.0, seen=2, missing=[
        PodState("hpc-cn-1", "", False, "Pending, unschedulable: no fuse")])
    assert str(err) == ("1 of 3 pods ready after 5s; not ready: hpc-cn-1 (Pending, "
                        "unschedulable: no fuse); only 2 matching pods exist")
    dns = WaitTimeout(wanted=1, timeout=2.5, seen=1, unresolved=["hpc-cn-0.svc.ns"])
    assert str(dns) == "1 of 1 pods ready after 2.5s; DNS names not resolving: hpc-cn-0.svc.ns"


def test_dns_names_and_the_system_resolver() -> None:
    assert dns_name("hpc-cn-0", "hpc-cluster", "ns") == "hpc-cn-0.hpc-cluster.ns"
    assert dns_name("hpc-cn-0", "", "ns") == "hpc-cn-0"
    # Answered from /etc/hosts: no query leaves the machine.
    assert system_resolver("localhost") in ("127.0.0.1", "::1")
