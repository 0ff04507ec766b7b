"""The Python `kubernetes` client (a peer nobody here wrote): stream(), watch, create, delete."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.cluster

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402
from kubernetes.stream import stream  # noqa: E402


@pytest.fixture(scope="module")
def core(local_cluster):
    api = client.ApiClient(config.new_client_from_config(local_cluster.kubeconfig).configuration)
    return client.CoreV1Api(api)


def test_stream_reads_stdout_and_returncode(local_cluster, core):
    ws = stream(core.connect_get_namespaced_pod_exec, local_cluster.compute_pods[0],
                local_cluster.namespace, command=["sh", "-c", "hostname; echo oops >&2; exit 5"],
                stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    out, err = "", ""
    while ws.is_open():
        ws.update(timeout=5)
        out += ws.read_stdout()
        err += ws.read_stderr()
    ws.close()
    assert out == f"{local_cluster.compute_pods[0]}\n"
    assert err == "oops\n"
    assert ws.returncode == 5


def test_stream_stdin_then_close_channel(local_cluster, core):
    ws = stream(core.connect_get_namespaced_pod_exec, local_cluster.compute_pods[1],
                local_cluster.namespace, command=["wc", "-c"], stdout=True, stderr=True,
                stdin=True, tty=False, _preload_content=False)
    ws.write_stdin("12345")  # a text frame: the server must accept those too
    ws.close_channel(0)  # v5 close signal -> EOF on the process's stdin
    out = ""
    while ws.is_open():
        ws.update(timeout=5)
        out += ws.read_stdout()
    ws.close()
    assert out.strip() == "5"
    assert ws.returncode == 0


def test_list_with_selectors(local_cluster, core):
    pods = core.list_namespaced_pod(local_cluster.namespace,
                                    label_selector="app=hpc-compute-nodes,hpcnode!=login-node")
    assert sorted(p.metadata.name for p in pods.items) == sorted(local_cluster.compute_pods)
    one = core.list_namespaced_pod(local_cluster.namespace,
                                   field_selector=f"metadata.name={local_cluster.login_pod}")
    assert [p.metadata.name for p in one.items] == [local_cluster.login_pod]
    pod = one.items[0]
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip == local_cluster.ip(pod.metadata.name)
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
    assert pod.status.init_container_statuses[0].state.terminated.reason == "Completed"


def _pod(name: str, annotations: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"role": "late"}, "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "none"}]}}


def test_watch_sees_added_ready_later_and_deleted(local_cluster, core):
    """POST a pod that turns Ready after a second, then delete it; one watch sees it all."""
    start = core.list_namespaced_pod(local_cluster.namespace, label_selector="role=late")
    events: list[tuple[str, str, bool]] = []
    done = threading.Event()

    def follow() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_pod, local_cluster.namespace,
                           label_selector="role=late",
                           resource_version=start.metadata.resource_version, timeout_seconds=30):
            conds = {c.type: c.status for c in ev["object"].status.conditions or []}
            events.append((ev["type"], ev["object"].metadata.name, conds.get("Ready") == "True"))
            if ev["type"] == "DELETED":
                w.stop()
        done.set()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    core.create_namespaced_pod(local_cluster.namespace,
                               _pod("late-1", {"kube-pmix.dev/ready-after-seconds": "1"}))
    for _ in range(100):
        if any(kind == "MODIFIED" and ready for kind, _, ready in events):
            break
        done.wait(0.1)
    created = core.read_namespaced_pod("late-1", local_cluster.namespace)
    assert created.status.pod_ip
    core.delete_namespaced_pod("late-1", local_cluster.namespace)
    assert done.wait(30), events
    kinds = [kind for kind, _, _ in events]
    assert kinds[0] == "ADDED" and kinds[-1] == "DELETED"
    assert ("MODIFIED", "late-1", True) in events
    assert not any(ready for kind, _, ready in events if kind == "ADDED")


def test_never_ready_pod_stays_not_ready(local_cluster, core):
    core.create_namespaced_pod(local_cluster.namespace,
                               _pod("never-1", {"kube-pmix.dev/never-ready": "true"}))
    try:
        pod = core.read_namespaced_pod("never-1", local_cluster.namespace)
        assert pod.status.phase == "Running"
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"
        # not Ready: not published in the pods' /etc/hosts
        hosts = local_cluster.pod_exec(local_cluster.compute_pods[0], "cat /etc/hosts").stdout
        assert "never-1" not in hosts
    finally:
        core.delete_namespaced_pod("never-1", local_cluster.namespace)
