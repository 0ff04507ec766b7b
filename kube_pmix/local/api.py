"""The Kubernetes API the local cluster serves: middlewares and the route table.

The handlers live by concern: discovery and namespaces (api_discovery.py), pods
(api_pods.py), pods/exec (api_exec.py); what they share in api_base.py.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from . import objects
from .api_authz import AuthzRoutes
from .api_base import Backend, Reply, status_response
from .api_discovery import DiscoveryRoutes
from .api_exec import ExecRoutes
from .api_pods import PodRoutes
from .auth import authenticate

_PUBLIC = {"/version", "/readyz", "/livez", "/healthz"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(backend: Backend) -> web.Application:
    @web.middleware
    async def authn(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _PUBLIC:
            return await handler(request)
        identity = authenticate(request.headers.get("Authorization"), backend.identities)
        if identity is None:
            return status_response(objects.unauthorized())
        return await handler(request)

    @web.middleware
    async def replies(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Reply as reply:
            return status_response(reply.body)

    discovery, pods, execs = DiscoveryRoutes(backend), PodRoutes(backend), ExecRoutes(backend)
    authz = AuthzRoutes(backend)
    app = web.Application(middlewares=[authn, replies])
    ns_pods = "/api/v1/namespaces/{namespace}/pods"
    app.add_routes([
        web.get("/version", discovery.version),
        web.get("/readyz", discovery.readyz),
        web.get("/livez", discovery.readyz),
        web.get("/healthz", discovery.readyz),
        web.get("/api", discovery.api),
        web.get("/apis", discovery.apis),
        web.get("/api/v1", discovery.api_v1),
        web.get("/api/v1/namespaces", discovery.list_namespaces),
        web.get("/api/v1/namespaces/{namespace}", discovery.get_namespace),
        web.get("/api/v1/pods", pods.list_pods),
        web.get(ns_pods, pods.list_pods),
        web.post(ns_pods, pods.create_pod),
        web.get(ns_pods + "/{name}", pods.get_pod),
        web.delete(ns_pods + "/{name}", pods.delete_pod),
        web.get(ns_pods + "/{name}/log", pods.pod_log),
        web.get(ns_pods + "/{name}/exec", execs.exec_pod),
        web.post(ns_pods + "/{name}/exec", execs.exec_pod),
        web.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                 authz.self_subject_access_review),
    ])
    return app
