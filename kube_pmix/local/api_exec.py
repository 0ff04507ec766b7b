"""pods/exec before the upgrade: fault injection, RBAC, the pod, container and command
checks in the apiserver's order, then the WebSocket session (exec.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from . import objects
from .api_base import Reply, Routes
from .exec import choose_protocol, flag, serve_exec


class ExecRoutes(Routes):
    async def exec_pod(self, request: web.Request) -> web.StreamResponse:
        # injected faults come where priority and fairness sits: after authentication,
        # before authorization and before anything about the pod is looked at
        key = f"{request.headers.get('Authorization')} {request.path_qs}"
        faults = self.backend.exec_faults
        refusal = faults.next(key) if request.method == "GET" else faults.fallback(key)
        if refusal is not None:
            body, headers = refusal
            return web.json_response(body, status=body["code"], headers=headers)
        name = request.match_info["name"]
        # SPDY asks with POST (create); a WebSocket upgrade is a GET, which must also be
        # allowed to create, as Kubernetes' AuthorizePodWebsocketUpgradeCreatePermission
        # requires (checked first: the message then reads as for SPDY clients)
        self.check(request, "create", name=name, subresource="exec")
        if request.method == "GET":
            self.check(request, "get", name=name, subresource="exec")
        pod = self.find(request)
        query = request.query
        names = [c.name for c in pod.containers]
        container = query.get("container") or (names[0] if len(names) == 1 else "")
        if not container:
            raise Reply(objects.bad_request(
                f"a container name must be specified for pod {name}, choose one of: {names}"))
        spec = pod.container(container)
        if spec is None:
            raise Reply(objects.bad_request(f"container {container} is not valid for pod {name}"))
        command = query.getall("command", [])
        if not command:
            raise Reply(objects.bad_request(
                "you must specify at least one command for the container"))
        stdin, stdout, stderr, tty = (flag(query.get(k)) for k in
                                      ("stdin", "stdout", "stderr", "tty"))
        if not (stdin or stdout or stderr):
            raise Reply(objects.bad_request(
                "you must specify at least 1 of stdin, stdout, stderr"))
        if request.method != "GET" or request.headers.get("Upgrade", "").lower() != "websocket":
            raise Reply(objects.bad_request(
                "Upgrade request required: the kube-pmix local cluster serves exec over "
                "WebSocket only (v5.channel.k8s.io, v4.channel.k8s.io)"))
        protocol = choose_protocol(request.headers.get("Sec-WebSocket-Protocol", ""))
        if protocol is None:
            raise Reply(objects.bad_request(
                "none of the offered subprotocols is supported; "
                "use v5.channel.k8s.io or v4.channel.k8s.io"))
        running = spec.running and pod.phase == "Running" and pod.pause_pid is not None
        error = None if running else (
            f'unable to upgrade connection: container not found ("{container}")')

        async def spawn(argv: list[str], **stdio: Any) -> asyncio.subprocess.Process:
            return await self.backend.spawn_exec(pod, container, argv, tty, **stdio)

        return await serve_exec(request, protocol, spawn, command, error, stdin, stdout,
                                stderr and not tty, tty, self.backend.idle_timeout)
