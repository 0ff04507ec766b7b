"""Pod objects, Status bodies, the exec status channel and the store's watch semantics."""

from __future__ import annotations

import asyncio

import pytest

from kube_pmix.local import objects
from kube_pmix.local.daemon import initial_pods, pod_from_body
from kube_pmix.local.exec import choose_protocol, exit_status, flag
from kube_pmix.local.model import Container, PodState
from kube_pmix.local.store import PodStore, ResourceExpired


def test_initial_pods_shapes():
    pods = initial_pods(3, "abcde")
    assert [p.name for p in pods] == ["hpc-cn-0", "hpc-cn-1", "hpc-cn-2", "hpc-cluster-login-abcde"]
    assert pods[0].labels["app"] == "hpc-compute-nodes"
    assert pods[0].labels["hpcnode"] == "compute-node"
    login = pods[-1]
    assert login.labels["hpcnode"] == "login-node"
    assert [c.name for c in login.containers] == ["hpc-login"]
    assert [(c.name, c.running) for c in login.init_containers] == [("job-waiter", False)]


def test_pod_object_running_and_ready():
    pod = PodState("p", {"a": "b"}, [Container("c")], phase="Running", ready=True, ip="10.0.0.2")
    obj = objects.pod_object(pod, "10.0.0.1")
    assert obj["metadata"]["namespace"] == "kube-pmix" and obj["metadata"]["uid"]
    assert obj["status"]["podIP"] == "10.0.0.2" and obj["status"]["podIPs"] == [{"ip": "10.0.0.2"}]
    conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conditions == {"PodScheduled": "True", "Initialized": "True",
                          "ContainersReady": "True", "Ready": "True"}
    assert "running" in obj["status"]["containerStatuses"][0]["state"]


def test_pod_from_body():
    pod = pod_from_body({"metadata": {"name": "x", "labels": {"k": "v"},
                                      "annotations": {"kube-pmix.dev/never-ready": "true"}},
                         "spec": {"containers": [{"name": "c", "env": [{"name": "A",
                                                                         "value": "1"}]}]}})
    assert (pod.name, pod.labels, pod.containers[0].env) == ("x", {"k": "v"}, {"A": "1"})


def test_status_bodies():
    assert objects.not_found("nope")["message"] == 'pods "nope" not found'


def test_exec_status_channel():
    assert exit_status(0) == {"metadata": {}, "status": "Success"}
    failure = exit_status(3)
    assert failure["reason"] == "NonZeroExitCode"
    assert failure["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert exit_status(-9)["details"]["causes"][0]["message"] == "137"


def test_exec_query_flags_and_protocols():
    assert [flag(v) for v in (None, "0", "false", "FALSE", "1", "true", "yes")] == [
        False, False, False, False, True, True, True]
    assert choose_protocol("v5.channel.k8s.io") == "v5.channel.k8s.io"
    assert choose_protocol("v4.channel.k8s.io, v5.channel.k8s.io") == "v4.channel.k8s.io"
    assert choose_protocol("base64.channel.k8s.io") is None


def test_store_watch_backlog_and_expiry():
    async def scenario() -> None:
        store = PodStore("10.0.0.1", lambda: None, history=3)
        a, b = PodState("a", {}, [Container("c")]), PodState("b", {}, [Container("c")])
        store.add(a)
        queue, backlog = store.subscribe(None)
        assert [(k, o["metadata"]["name"]) for _, k, o in backlog] == [("ADDED", "a")]
        since = store.resource_version
        store.add(b)
        store.remove(a)
        assert [queue.get_nowait()[1] for _ in range(2)] == ["ADDED", "DELETED"]
        _, later = store.subscribe(since)
        assert [(k, o["metadata"]["name"]) for _, k, o in later] == [("ADDED", "b"),
                                                                   ("DELETED", "a")]
        for _ in range(5):
            store.modified(b)
        with pytest.raises(ResourceExpired):
            store.subscribe(since)

    asyncio.run(scenario())
