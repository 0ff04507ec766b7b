"""Pods: list (with selectors and server-side tables), watch, get, create, delete, log."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable, Optional

from aiohttp import web

from . import objects
from .api_base import Reply, Routes, as_table, matchers
from .exec import flag
from .layout import NAMESPACE
from .store import ResourceExpired
from .validation import pod_errors


class PodRoutes(Routes):
    async def list_pods(self, request: web.Request) -> web.StreamResponse:
        namespace = request.match_info.get("namespace")
        watching = flag(request.query.get("watch"))
        self.check(request, "watch" if watching else "list")
        match = matchers(request)
        ours = namespace in (None, NAMESPACE)
        if watching:
            return await self.watch(request, match if ours else (lambda _: False),
                                    as_table(request))
        items = [o for o in self.backend.store.objects() if ours and match(o)]
        items.sort(key=lambda o: o["metadata"]["name"])
        rv = self.backend.store.resource_version
        if as_table(request):
            include = request.query.get("includeObject", "Metadata")
            return web.json_response(objects.pod_table(items, rv, include))
        return web.json_response(objects.pod_list(items, rv))

    async def watch(self, request: web.Request, match: Callable[[dict[str, Any]], bool],
                    table: bool) -> web.StreamResponse:
        raw_rv = request.query.get("resourceVersion") or "0"
        try:
            since: Optional[int] = int(raw_rv)
        except ValueError:
            raise Reply(objects.bad_request(f"invalid resource version {raw_rv!r}")) from None
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            queue, backlog = self.backend.store.subscribe(since)
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
            self.backend.store.unsubscribe(queue)
        return response

    async def get_pod(self, request: web.Request) -> web.Response:
        self.check(request, "get", name=request.match_info["name"])
        pod = self.find(request)
        obj = self.backend.store.render(pod)
        if as_table(request):
            include = request.query.get("includeObject", "Metadata")
            return web.json_response(objects.pod_table([obj], pod.resource_version, include))
        return web.json_response(obj)

    async def delete_pod(self, request: web.Request) -> web.Response:
        self.check(request, "delete", name=request.match_info["name"])
        pod = self.find(request)
        obj = self.backend.store.render(pod)
        await self.backend.delete_pod(pod)
        return web.json_response(obj)

    async def create_pod(self, request: web.Request) -> web.Response:
        self.check(request, "create")
        if request.match_info["namespace"] != NAMESPACE:
            raise Reply(objects.status_failure(
                403, "Forbidden",
                f"pods are only served in namespace {NAMESPACE!r} by the local cluster"))
        try:
            body = await request.json()
        except ValueError:
            raise Reply(objects.bad_request("request body is not JSON")) from None
        name = (body.get("metadata") or {}).get("name")
        spec = body.get("spec") or {}
        if not isinstance(name, str) or not name or not spec.get("containers"):
            raise Reply(objects.status_failure(
                422, "Invalid", "Pod is invalid: metadata.name and spec.containers are required"))
        errors = pod_errors(name, spec.get("hostname"), spec.get("subdomain"))
        if errors:  # before the name reaches any path or hostname
            raise Reply(objects.status_failure(
                422, "Invalid", f'Pod "{name}" is invalid: {", ".join(errors)}',
                {"name": name, "kind": "Pod"}))
        if name in self.backend.store.pods:
            raise Reply(objects.status_failure(
                409, "AlreadyExists", f'pods "{name}" already exists',
                {"name": name, "kind": "pods"}))
        try:
            pod = await self.backend.create_pod(body)
        except RuntimeError as exc:
            raise Reply(objects.status_failure(500, "InternalError", str(exc))) from None
        return web.json_response(self.backend.store.render(pod), status=201)

    async def pod_log(self, request: web.Request) -> web.Response:
        """Pods here have no main process writing a log: an empty one, as for a quiet pod."""
        self.check(request, "get", name=request.match_info["name"], subresource="log")
        self.find(request)
        return web.Response(text="", content_type="text/plain")
