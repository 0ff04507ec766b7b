"""What `kube-pmix login` (and `deploy --wait`) decide from the Job, the pods and the nodes."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from kube_pmix.vcluster.errors import LoginError
from kube_pmix.vcluster.loginwait import look, wait_login

NS = "kp"


def job(**status: Any) -> dict[str, Any]:
    conditions = [{"type": t, "status": "True", "reason": r, "message": m}
                  for t, (r, m) in status.items()]
    return {"metadata": {"name": "hpc-cluster-login"}, "spec": {},
            "status": {"conditions": conditions}}


def pod(name: str, phase: str = "Running", ready: bool = False, login: bool = False,
        unschedulable: str = "", waiting: Optional[tuple[str, str]] = None,
        fuse: bool = False) -> dict[str, Any]:
    labels = {"job-name": "hpc-cluster-login"} if login else {"hpcnode": "compute-node"}
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable:
        conditions.append({"type": "PodScheduled", "status": "False",
                           "reason": "Unschedulable", "message": unschedulable})
    statuses = []
    if waiting:
        statuses.append({"name": "hpc-node", "ready": False,
                         "state": {"waiting": {"reason": waiting[0], "message": waiting[1]}}})
    limits = {"github.com/fuse": "1"} if fuse else {}
    return {"metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "hpc-node", "resources": {"limits": limits}}]},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": statuses}}


NODE = {"status": {"allocatable": {"cpu": "2"}}}
FUSE_NODE = {"status": {"allocatable": {"cpu": "2", "github.com/fuse": "64"}}}


def test_the_ready_login_pod_is_chosen_not_a_failed_one_of_a_retry() -> None:
    pods = [pod("login-old", phase="Failed", login=True),
            pod("login-new", ready=True, login=True), pod("hpc-cn-0", ready=True)]
    assert look(job(), pods, [NODE], NS).pod == "login-new"
    # a Failed pod alone is a reason to wait for the next one, not a pod to enter
    seen = look(job(), [pods[0], pods[2]], [NODE], NS)
    assert (seen.pod, seen.final) == ("", False)
    assert seen.why == "the Job has no running login pod yet"


def test_no_pod_yet_is_waiting_not_an_error() -> None:
    seen = look(job(), [], [NODE], NS)
    assert not seen.final and seen.why == "the Job has no running login pod yet"


def test_no_job_and_a_failed_job_are_final() -> None:
    assert look(None, [], [NODE], NS).final
    seen = look(job(Failed=("BackoffLimitExceeded", "Job has reached the specified backoff "
                                                    "limit")), [], [NODE], NS)
    assert seen.final and "BackoffLimitExceeded" in seen.why
    assert "make get-waitfor-log" in seen.why


def test_the_compute_pods_reason_is_named() -> None:
    pods = [pod("login-a", login=True),
            pod("hpc-cn-3", phase="Pending", unschedulable="0/1 nodes are available: "
                                                         "1 Insufficient cpu."),
            pod("hpc-cn-0", waiting=("ImagePullBackOff", "Back-off pulling image \"x\""))]
    seen = look(job(), pods, [NODE], NS)
    assert not seen.final
    assert seen.why == "hpc-cn-3: not scheduled: 0/1 nodes are available: 1 Insufficient cpu."
    seen = look(job(), pods[::2], [NODE], NS)
    assert seen.why == 'hpc-cn-0: hpc-node: ImagePullBackOff: Back-off pulling image "x"'


def test_a_device_no_node_offers_is_final_and_says_what_to_deploy() -> None:
    pods = [pod("hpc-cn-0", phase="Pending", fuse=True,
                unschedulable="0/1 nodes are available: 1 Insufficient github.com/fuse.")]
    seen = look(job(), pods, [NODE], NS)
    assert seen.final
    assert seen.why == ("hpc-cn-0 needs github.com/fuse, which no node offers: deploy the fuse "
                        "device plugin (`make deploy-fuse-plugin`), or use a variant without it")
    # offered, but all in use: wait
    assert not look(job(), pods, [FUSE_NODE], NS).final


def test_wait_login_reports_changes_and_stops_on_a_verdict(monkeypatch: Any) -> None:
    import json

    import kube_pmix.vcluster.loginwait as lw

    monkeypatch.setattr(lw, "POLL", 0.0)
    states = iter([[], [pod("login-a", login=True)], [pod("login-a", login=True, ready=True)]])
    current: list[Any] = []

    def get(what: list[str]) -> str:
        if what[0] == "pods":
            current[:] = next(states)
            return json.dumps({"items": current})
        if what[0] == "job":
            return json.dumps({"items": [job()]})
        return json.dumps({"items": [NODE]})

    said: list[str] = []
    assert wait_login(get, NS, 60, said.append) == "login-a"
    assert said == ["the Job has no running login pod yet",
                    "login-a: running, not Ready yet (its readiness probe: kubectl describe "
                    "pod login-a)"]

    def failed(what: list[str]) -> str:
        items = [job(Failed=("DeadlineExceeded", "too long"))] if what[0] == "job" else []
        return json.dumps({"items": items})

    with pytest.raises(LoginError, match="the login Job failed: DeadlineExceeded"):
        wait_login(failed, NS, 60)


def test_a_missing_device_is_a_verdict_only_once_it_lasted(monkeypatch: Any) -> None:
    """A plugin deployed a moment ago shows on the node a few seconds later."""
    import json

    import kube_pmix.vcluster.loginwait as lw

    monkeypatch.setattr(lw, "POLL", 0.0)
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(lw.time, "monotonic", lambda: float(next(clock)))
    pending = pod("hpc-cn-0", phase="Pending", fuse=True, unschedulable="Insufficient")
    nodes = iter([[NODE], [NODE], [FUSE_NODE], [FUSE_NODE]])
    ready = iter([False, False, False, True])

    def get(what: list[str]) -> str:
        if what[0] == "job":
            return json.dumps({"items": [job()]})
        if what[0] == "pods":
            login = pod("login-a", login=True, ready=next(ready))
            return json.dumps({"items": [pending, login]})
        return json.dumps({"items": next(nodes)})

    assert wait_login(get, NS, 600) == "login-a"

    def never(what: list[str]) -> str:
        if what[0] == "nodes":
            return json.dumps({"items": [NODE]})
        return json.dumps({"items": [job()] if what[0] == "job" else [pending]})

    with pytest.raises(LoginError, match="which no node offers"):
        wait_login(never, NS, 600)
