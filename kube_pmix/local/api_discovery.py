"""Discovery, health and namespaces: what kubectl asks before it asks for pods."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import objects
from .api_base import Reply, Routes
from .layout import NAMESPACE

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


class DiscoveryRoutes(Routes):
    async def version(self, _: web.Request) -> web.Response:
        return web.json_response(VERSION)

    async def readyz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok" if self.backend.ready else "starting",
                            status=200 if self.backend.ready else 503)

    async def api(self, request: web.Request) -> web.Response:
        return web.json_response({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": request.host}],
        })

    async def apis(self, _: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def api_v1(self, _: web.Request) -> web.Response:
        return web.json_response(_resource_list())

    async def list_namespaces(self, request: web.Request) -> web.Response:
        self.check(request, "list", "namespaces")
        return web.json_response({"kind": "NamespaceList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": "1"},
                                  "items": [objects.namespace_object(n) for n in NAMESPACES]})

    async def get_namespace(self, request: web.Request) -> web.Response:
        name = request.match_info["namespace"]
        # as the apiserver's request info: a namespace's own namespace is itself, so a Role
        # there may grant reading it
        self.check(request, "get", "namespaces", name)
        if name not in NAMESPACES:
            raise Reply(objects.status_failure(
                404, "NotFound", f'namespaces "{name}" not found',
                {"name": name, "kind": "namespaces"}))
        return web.json_response(objects.namespace_object(name))
