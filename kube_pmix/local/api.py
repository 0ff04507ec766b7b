"""The Kubernetes API routes: discovery, pods get/list/watch/create/delete, pods/exec.

Errors are metav1.Status bodies with the apiserver's wording, since clients
(kubectl, the Python client) print them as they come.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Optional, Protocol

from aiohttp import web

from . import objects
from .auth import Identity, authenticate
from .exec import choose_protocol, flag, serve_exec
from .faults import ExecFaults
from .layout import NAMESPACE
from .model import PodState
from .selectors import SelectorError, field_matcher, label_matcher
from .store import PodStore, ResourceExpired

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0+kube-pmix",
    "gitCommit": "kube-pmix-local",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23",
    "compiler": "gc",
    "platform": "linux/amd64",
}
# namespaces that exist (pods live only in ours); kubectl checks them after a NotFound
NAMESPACES = (NAMESPACE, "default", "kube-system")
_PUBLIC = {"/version", "/readyz", "/livez", "/healthz"}


class Backend(Protocol):
    """What the routes need from the daemon."""

    store: PodStore
    ready: bool
    idle_timeout: Optional[float]
    identities: dict[str, Identity]
    exec_faults: ExecFaults

    async def create_pod(self, body: dict[str, Any]) -> PodState: ...

    async def delete_pod(self, pod: PodState) -> None: ...

    async def spawn_exec(
        self, pod: PodState, container: str, command: list[str], tty: bool, **stdio: Any
    ) -> asyncio.subprocess.Process: ...


def status_response(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=body["code"])


def _resource_list() -> dict[str, Any]:
    def res(name: str, kind: str, verbs: list[str], **extra: Any) -> dict[str, Any]:
        return {"name": name, "singularName": "" if "/" in name else name[:-1],
                "namespaced": True, "kind": kind, "verbs": verbs, **extra}

    return {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            res("pods", "Pod", ["create", "delete", "get", "list", "watch"],
                shortNames=["po"], categories=["all"]),
            res("pods/exec", "PodExecOptions", ["create", "get"]),
            res("pods/log", "Pod", ["get"]),
            dict(res("namespaces", "Namespace", ["get", "list"], shortNames=["ns"]),
                 namespaced=False),
        ],
    }


def make_app(backend: Backend) -> web.Application:
    @web.middleware
    async def authn(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in _PUBLIC:
            return await handler(request)
        identity = authenticate(request.headers.get("Authorization"), backend.identities)
        if identity is None:
            return status_response(objects.unauthorized())
        return await handler(request)

    def check(request: web.Request, verb: str, resource: str = "pods",
              name: Optional[str] = None) -> None:
        # authenticated by the middleware; looked up again rather than stored on the request
        identity = authenticate(request.headers.get("Authorization"), backend.identities)
        assert identity is not None
        if not identity.allows(verb, resource):
            raise _Reply(objects.forbidden(identity.user, verb, resource, name))

    @web.middleware
    async def replies(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Reply as reply:
            return status_response(reply.body)

    async def version(_: web.Request) -> web.Response:
        return web.json_response(VERSION)

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok" if backend.ready else "starting",
                            status=200 if backend.ready else 503)

    async def api(request: web.Request) -> web.Response:
        return web.json_response({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": request.host}],
        })

    async def apis(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def api_v1(_: web.Request) -> web.Response:
        return web.json_response(_resource_list())

    def matchers(request: web.Request) -> Callable[[dict[str, Any]], bool]:
        try:
            labels = label_matcher(request.query.get("labelSelector"))
            fields = field_matcher(request.query.get("fieldSelector"))
        except SelectorError as exc:
            raise _Reply(objects.bad_request(str(exc))) from None
        return lambda obj: labels(obj["metadata"].get("labels", {})) and fields(obj)

    async def list_pods(request: web.Request) -> web.StreamResponse:
        namespace = request.match_info.get("namespace")
        watching = flag(request.query.get("watch"))
        check(request, "watch" if watching else "list")
        match = matchers(request)
        ours = namespace in (None, NAMESPACE)
        if watching:
            return await watch(request, match if ours else (lambda _: False), as_table(request))
        items = [o for o in backend.store.objects() if ours and match(o)]
        items.sort(key=lambda o: o["metadata"]["name"])
        rv = backend.store.resource_version
        if as_table(request):
            include = request.query.get("includeObject", "Metadata")
            return web.json_response(objects.pod_table(items, rv, include))
        return web.json_response(objects.pod_list(items, rv))

    def as_table(request: web.Request) -> bool:
        """Server-side printing, asked for by kubectl get (falls back to JSON otherwise)."""
        return "as=Table" in request.headers.get("Accept", "")

    async def watch(request: web.Request, match: Callable[[dict[str, Any]], bool],
                    table: bool) -> web.StreamResponse:
        raw_rv = request.query.get("resourceVersion") or "0"
        try:
            since: Optional[int] = int(raw_rv)
        except ValueError:
            raise _Reply(objects.bad_request(f"invalid resource version {raw_rv!r}")) from None
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            queue, backlog = backend.store.subscribe(since)
        except ResourceExpired as exc:
            await response.prepare(request)
            gone = objects.status_failure(410, "Expired", str(exc))
            await response.write(json.dumps(objects.watch_event("ERROR", gone)).encode() + b"\n")
            return response
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            include = request.query.get("includeObject", "Metadata")

            async def send(rv: int, kind: str, obj: dict[str, Any]) -> None:
                if match(obj):
                    shown = objects.pod_table([obj], rv, include) if table else obj
                    await response.write(json.dumps(objects.watch_event(kind, shown)).encode()
                                         + b"\n")

            for event in backlog:
                await send(*event)
            while (left := deadline - loop.time()) > 0:
                try:
                    event = await asyncio.wait_for(queue.get(), left)
                except asyncio.TimeoutError:
                    break
                await send(*event)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            backend.store.unsubscribe(queue)
        return response

    async def list_namespaces(request: web.Request) -> web.Response:
        return web.json_response({"kind": "NamespaceList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": "1"},
                                  "items": [objects.namespace_object(n) for n in NAMESPACES]})

    async def get_namespace(request: web.Request) -> web.Response:
        name = request.match_info["namespace"]
        if name not in NAMESPACES:
            raise _Reply(objects.status_failure(
                404, "NotFound", f'namespaces "{name}" not found',
                {"name": name, "kind": "namespaces"}))
        return web.json_response(objects.namespace_object(name))

    def find(request: web.Request) -> PodState:
        name = request.match_info["name"]
        pod = backend.store.pods.get(name)
        if pod is None or request.match_info["namespace"] != NAMESPACE:
            raise _Reply(objects.not_found(name))
        return pod

    async def get_pod(request: web.Request) -> web.Response:
        check(request, "get", name=request.match_info["name"])
        pod = find(request)
        obj = backend.store.render(pod)
        if as_table(request):
            include = request.query.get("includeObject", "Metadata")
            return web.json_response(objects.pod_table([obj], pod.resource_version, include))
        return web.json_response(obj)

    async def delete_pod(request: web.Request) -> web.Response:
        check(request, "delete", name=request.match_info["name"])
        pod = find(request)
        obj = backend.store.render(pod)
        await backend.delete_pod(pod)
        return web.json_response(obj)

    async def create_pod(request: web.Request) -> web.Response:
        check(request, "create")
        if request.match_info["namespace"] != NAMESPACE:
            raise _Reply(objects.status_failure(
                403, "Forbidden",
                f"pods are only served in namespace {NAMESPACE!r} by the local cluster"))
        try:
            body = await request.json()
        except ValueError:
            raise _Reply(objects.bad_request("request body is not JSON")) from None
        name = (body.get("metadata") or {}).get("name")
        if not name or not (body.get("spec") or {}).get("containers"):
            raise _Reply(objects.status_failure(
                422, "Invalid", "Pod is invalid: metadata.name and spec.containers are required"))
        if name in backend.store.pods:
            raise _Reply(objects.status_failure(
                409, "AlreadyExists", f'pods "{name}" already exists',
                {"name": name, "kind": "pods"}))
        try:
            pod = await backend.create_pod(body)
        except RuntimeError as exc:
            raise _Reply(objects.status_failure(500, "InternalError", str(exc))) from None
        return web.json_response(backend.store.render(pod), status=201)

    async def pod_log(request: web.Request) -> web.Response:
        """Pods here have no main process writing a log: an empty one, as for a quiet pod."""
        check(request, "get", "pods/log", request.match_info["name"])
        find(request)
        return web.Response(text="", content_type="text/plain")

    async def exec_pod(request: web.Request) -> web.StreamResponse:
        # injected faults come where priority and fairness sits: after authentication,
        # before authorization and before anything about the pod is looked at
        key = f"{request.headers.get('Authorization')} {request.path_qs}"
        faults = backend.exec_faults
        refusal = faults.next(key) if request.method == "GET" else faults.fallback(key)
        if refusal is not None:
            body, headers = refusal
            return web.json_response(body, status=body["code"], headers=headers)
        name = request.match_info["name"]
        check(request, "create" if request.method == "POST" else "get", "pods/exec", name)
        pod = find(request)
        query = request.query
        names = [c.name for c in pod.containers]
        container = query.get("container") or (names[0] if len(names) == 1 else "")
        if not container:
            raise _Reply(objects.bad_request(
                f"a container name must be specified for pod {name}, choose one of: {names}"))
        spec = pod.container(container)
        if spec is None:
            raise _Reply(objects.bad_request(f"container {container} is not valid for pod {name}"))
        command = query.getall("command", [])
        if not command:
            raise _Reply(objects.bad_request(
                "you must specify at least one command for the container"))
        stdin, stdout, stderr, tty = (flag(query.get(k)) for k in
                                      ("stdin", "stdout", "stderr", "tty"))
        if not (stdin or stdout or stderr):
            raise _Reply(objects.bad_request(
                "you must specify at least 1 of stdin, stdout, stderr"))
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
            raise _Reply(objects.bad_request(
                "Upgrade request required: the kube-pmix local cluster serves exec over "
                "WebSocket only (v5.channel.k8s.io, v4.channel.k8s.io)"))
        protocol = choose_protocol(request.headers.get("Sec-WebSocket-Protocol", ""))
        if protocol is None:
            raise _Reply(objects.bad_request(
                "none of the offered subprotocols is supported; "
                "use v5.channel.k8s.io or v4.channel.k8s.io"))
        running = spec.running and pod.phase == "Running" and pod.pause_pid is not None
        error = None if running else (
            f'unable to upgrade connection: container not found ("{container}")')

        async def spawn(argv: list[str], **stdio: Any) -> asyncio.subprocess.Process:
            return await backend.spawn_exec(pod, container, argv, tty, **stdio)

        return await serve_exec(request, protocol, spawn, command, error, stdin, stdout,
                                stderr and not tty, tty, backend.idle_timeout)

    app = web.Application(middlewares=[authn, replies])
    ns_pods = "/api/v1/namespaces/{namespace}/pods"
    app.add_routes([
        web.get("/version", version),
        web.get("/readyz", readyz),
        web.get("/livez", readyz),
        web.get("/healthz", readyz),
        web.get("/api", api),
        web.get("/apis", apis),
        web.get("/api/v1", api_v1),
        web.get("/api/v1/pods", list_pods),
        web.get("/api/v1/namespaces", list_namespaces),
        web.get("/api/v1/namespaces/{namespace}", get_namespace),
        web.get(ns_pods, list_pods),
        web.post(ns_pods, create_pod),
        web.get(ns_pods + "/{name}", get_pod),
        web.delete(ns_pods + "/{name}", delete_pod),
        web.get(ns_pods + "/{name}/log", pod_log),
        web.get(ns_pods + "/{name}/exec", exec_pod),
        web.post(ns_pods + "/{name}/exec", exec_pod),
    ])
    return app


class _Reply(Exception):
    """Raised by a handler to answer with a Status body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body
