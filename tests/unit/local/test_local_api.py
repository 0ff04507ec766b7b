"""The API routes and the exec protocol, offline: real aiohttp server, processes run unconfined.

The backend here starts commands directly instead of inside pod namespaces, so
these run without root; the framing, status channel and error order are the
real code's.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Optional

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kube_pmix.local.api import make_app
from kube_pmix.local.auth import identities
from kube_pmix.local.config import ClusterConfig
from kube_pmix.local.faults import ExecFaults
from kube_pmix.local.model import Container, PodState
from kube_pmix.local.store import PodStore

CONFIG = ClusterConfig(name="t", nodes=1, subnet_index=9, idle_timeout=None, admin_token="adm",
                       sa_token="sa", restricted_token="ro", venv="/v", uid=0, gid=0,
                       home="/", user="root")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
# the pods' account ("sa") may read pods and exec into p1 only, as the manifests' Role says
POD_RBAC = [
    {"kind": "Role", "metadata": {"name": "r", "namespace": "kube-pmix"},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
               {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"],
                "resourceNames": ["p1"]}]},
    {"kind": "RoleBinding", "metadata": {"name": "r", "namespace": "kube-pmix"},
     "roleRef": {"kind": "Role", "name": "r"},
     "subjects": [{"kind": "ServiceAccount", "name": "hpc-cluster", "namespace": "kube-pmix"}]},
]
EXEC = "/api/v1/namespaces/kube-pmix/pods/{}/exec"


class Backend:
    def __init__(self, idle_timeout: Optional[float] = None,
                 exec_errors: Optional[dict[int, float]] = None) -> None:
        self.store = PodStore("10.0.0.1", lambda: None)
        self.ready = True
        self.idle_timeout = idle_timeout
        self.identities = identities(CONFIG, POD_RBAC)
        self.exec_faults = ExecFaults(exec_errors)
        self.procs: list[asyncio.subprocess.Process] = []
        for name, containers, init in (("p1", ["c"], []), ("login", ["login"], ["job-waiter"])):
            pod = PodState(name, {"role": name}, [Container(c) for c in containers],
                           [Container(c, running=False) for c in init],
                           phase="Running", ready=True, ip="10.0.0.2", pause_pid=1)
            self.store.add(pod)

    async def create_pod(self, body: dict[str, Any]) -> PodState:
        raise RuntimeError("not here")

    async def delete_pod(self, pod: PodState) -> None:
        self.store.remove(pod)

    async def spawn_exec(self, pod: PodState, container: str, command: list[str], tty: bool,
                         **stdio: Any) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(*command, **stdio)
        self.procs.append(proc)
        return proc


def run(scenario, idle_timeout: Optional[float] = None,
        exec_errors: Optional[dict[int, float]] = None) -> Any:
    async def main() -> Any:
        backend = Backend(idle_timeout, exec_errors)
        try:
            async with TestClient(TestServer(make_app(backend))) as client:
                return await scenario(client)
        finally:
            for proc in backend.procs:  # e.g. what a cut session left running
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
            await asyncio.sleep(0)

    return asyncio.run(main())


def auth(token: str = "adm") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def exec_session(client: TestClient, query: str, protocol: str = "v5.channel.k8s.io",
                       send: Optional[list[Any]] = None) -> dict[int, bytes]:
    channels: dict[int, bytes] = {}
    async with client.ws_connect(EXEC.format("p1") + "?" + query, protocols=(protocol,),
                                 headers=auth()) as ws:
        assert ws.protocol == protocol
        first = await ws.receive()
        assert first.type == aiohttp.WSMsgType.BINARY and first.data == b"\x01"
        for item in send or []:
            if isinstance(item, str):
                await ws.send_str(item)
            else:
                await ws.send_bytes(item)
        async for msg in ws:
            assert msg.type == aiohttp.WSMsgType.BINARY  # client-go rejects text frames
            assert len(msg.data) <= 32 * 1024
            channels[msg.data[0]] = channels.get(msg.data[0], b"") + msg.data[1:]
    return channels


def test_exec_stdout_stderr_and_exit_code():
    async def scenario(client: TestClient) -> dict[int, bytes]:
        return await exec_session(
            client, "command=sh&command=-c&command=echo%20out;echo%20err%20>%262;exit%203"
                    "&stdout=true&stderr=true")

    channels = run(scenario)
    assert channels[1] == b"out\n" and channels[2] == b"err\n"
    status = json.loads(channels[3])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


def test_exec_stdin_text_frame_and_v5_close_signal():
    async def scenario(client: TestClient) -> dict[int, bytes]:
        return await exec_session(client, "command=wc&command=-c&stdin=1&stdout=1",
                                  send=["\x00hello", b"\x00 world", b"\xff\x00"])

    channels = run(scenario)
    assert channels[1].strip() == b"11"
    assert json.loads(channels[3]) == {"metadata": {}, "status": "Success"}


def test_exec_v4_and_large_output_in_32k_frames():
    async def scenario(client: TestClient) -> dict[int, bytes]:
        return await exec_session(client, "command=head&command=-c&command=100000"
                                          "&command=/dev/zero&stdout=true", "v4.channel.k8s.io")

    assert run(scenario)[1] == b"\0" * 100000


def test_exec_stopped_container_is_internal_error_after_upgrade():
    async def scenario(client: TestClient) -> dict[str, Any]:
        async with client.ws_connect(EXEC.format("login") + "?command=true&container=job-waiter"
                                     "&stdout=true", protocols=("v5.channel.k8s.io",),
                                     headers=auth()) as ws:
            await ws.receive()
            msg = await ws.receive()
            return json.loads(msg.data[1:])

    status = run(scenario)
    assert status["reason"] == "InternalError" and status["code"] == 500
    assert 'container not found ("job-waiter")' in status["message"]


@pytest.mark.parametrize(("pod", "query", "token", "code", "reason"), [
    ("p1", "command=true&stdout=1", "bad", 401, "Unauthorized"),
    ("p1", "command=true&stdout=1", "ro", 403, "Forbidden"),
    ("nope", "command=true&stdout=1", "adm", 404, "NotFound"),
    ("login", "command=true&stdout=1&container=x", "adm", 400, "BadRequest"),
    ("p1", "command=true&stdout=1", "adm", 400, "BadRequest"),  # POST: SPDY is not served
])
def test_exec_errors_before_upgrade_are_status_json(pod, query, token, code, reason):
    async def scenario(client: TestClient) -> tuple[int, dict[str, Any]]:
        response = await client.post(EXEC.format(pod) + "?" + query, headers=auth(token))
        return response.status, await response.json()

    status, body = run(scenario)
    assert (status, body["code"], body["reason"], body["kind"]) == (code, code, reason, "Status")


def test_exec_errors_switch_refuses_its_share_with_real_status_bodies():
    async def scenario(client: TestClient) -> list[tuple[int, Optional[str], dict[str, Any]]]:
        out = []
        for method in ("get", "get", "post", "get", "get", "post", "post"):
            response = await getattr(client, method)(
                EXEC.format("p1") + "?command=true&stdout=1", headers=auth())
            out.append((response.status, response.headers.get("Retry-After"),
                        await response.json()))
        return out

    answers = run(scenario, exec_errors={429: 0.25, 503: 0.25})
    # WebSocket (GET) requests 1 and 3 are served (here: 400, no upgrade asked), 2 is 429,
    # 4 is 503; each POST right after a refusal (kubectl's SPDY fallback) repeats it once
    assert [a[0] for a in answers] == [400, 429, 429, 400, 503, 503, 400]
    _, retry, too_many = answers[1]
    assert retry == "1" and answers[2][1] == "1"
    assert too_many == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "reason": "TooManyRequests", "code": 429,
                        "message": "Too many requests, please try again later.",
                        "details": {"retryAfterSeconds": 1}}
    _, retry, unavailable = answers[4]
    assert retry is None
    assert (unavailable["kind"], unavailable["reason"], unavailable["code"]) == (
        "Status", "ServiceUnavailable", 503)


def test_the_service_account_gets_its_role_and_nothing_more():
    async def scenario(client: TestClient) -> list[tuple[str, int]]:
        out = []
        for method, path in (
            ("get", "/api/v1/namespaces/kube-pmix/pods"),
            ("get", "/api/v1/namespaces/kube-pmix/pods/login"),
            ("get", "/api/v1/pods"),  # every namespace: cluster scope
            ("get", "/api/v1/namespaces"),
            ("get", "/api/v1/namespaces/kube-pmix"),
            ("delete", "/api/v1/namespaces/kube-pmix/pods/p1"),
            ("post", EXEC.format("login") + "?command=true&stdout=1"),
            ("get", EXEC.format("login") + "?command=true&stdout=1"),
            ("post", EXEC.format("p1") + "?command=true&stdout=1"),  # allowed: 400 for SPDY
        ):
            response = await getattr(client, method)(path, headers=auth("sa"))
            body = await response.json()
            out.append((body.get("message", ""), response.status))
        return out

    answers = run(scenario)
    assert [status for _, status in answers] == [200, 200, 403, 403, 403, 403, 403, 403, 400]
    user = "system:serviceaccount:kube-pmix:hpc-cluster"
    assert answers[6][0] == answers[7][0] == (
        f'pods "login" is forbidden: User "{user}" cannot create resource "pods/exec" in API '
        'group "" in the namespace "kube-pmix"')
    assert answers[3][0] == (f'namespaces is forbidden: User "{user}" cannot list resource '
                             '"namespaces" in API group "" at the cluster scope')


@pytest.mark.parametrize(("name", "hostname"), [("../../etc", None), ("a/b", None),
                                                ("ok", "../x")])
def test_pod_names_are_validated_before_the_pod_is_made(name, hostname):
    async def scenario(client: TestClient) -> tuple[int, dict[str, Any]]:
        spec: dict[str, Any] = {"containers": [{"name": "c"}]}
        if hostname:
            spec["hostname"] = hostname
        response = await client.post("/api/v1/namespaces/kube-pmix/pods", headers=auth(),
                                     json={"metadata": {"name": name}, "spec": spec})
        return response.status, await response.json()

    status, body = run(scenario)  # the backend's create_pod would raise: never reached
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith(f'Pod "{name}" is invalid: ')
    assert "RFC 1123" in body["message"]


def test_exec_unsupported_subprotocol_is_refused():
    async def scenario(client: TestClient) -> int:
        headers = dict(auth(), Upgrade="websocket", Connection="Upgrade")
        headers["Sec-WebSocket-Version"] = "13"
        headers["Sec-WebSocket-Key"] = "x3JJHMbDL1EzLkh9GBhXDw=="
        headers["Sec-WebSocket-Protocol"] = "base64.channel.k8s.io"
        response = await client.get(EXEC.format("p1") + "?command=true&stdout=1", headers=headers)
        return response.status

    assert run(scenario) == 400


def test_idle_timeout_closes_a_silent_session():
    async def scenario(client: TestClient) -> dict[int, bytes]:
        return await exec_session(client, "command=sleep&command=30&stdout=1")

    async def bounded(client: TestClient) -> dict[int, bytes]:
        return await asyncio.wait_for(scenario(client), 20)

    assert 3 not in run(bounded, idle_timeout=0.2)  # closed without a status


def test_list_get_table_and_discovery():
    async def scenario(client: TestClient) -> list[Any]:
        out = []
        for path, headers in (
            ("/api/v1/namespaces/kube-pmix/pods?labelSelector=role%3Dp1", auth()),
            ("/api/v1/namespaces/kube-pmix/pods", dict(auth(), Accept=TABLE)),
            ("/api/v1", auth()),
            ("/api/v1/namespaces/kube-pmix/pods/nope", auth()),
            ("/version", {}),
        ):
            response = await client.get(path, headers=headers)
            out.append((response.status, await response.json()))
        return out

    (s1, pods), (s2, table), (s3, resources), (s4, missing), (s5, version) = run(scenario)
    assert s1 == 200 and [p["metadata"]["name"] for p in pods["items"]] == ["p1"]
    assert table["kind"] == "Table" and [r["cells"][0] for r in table["rows"]] == ["login", "p1"]
    assert {"pods", "pods/exec"} <= {r["name"] for r in resources["resources"]}
    assert (s4, missing["message"]) == (404, 'pods "nope" not found')
    assert s5 == 200 and version["major"] == "1"
