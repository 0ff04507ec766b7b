"""What every API route shares: the daemon's interface, Status replies, RBAC checks.

A handler raises `Reply(status_body)`; the `replies` middleware of `api.py`
answers with it. Errors are metav1.Status bodies with the apiserver's wording,
since clients (kubectl, the Python client) print them as they come.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional, Protocol

from aiohttp import web

from . import objects
from .auth import authenticate
from .faults import ExecFaults
from .layout import NAMESPACE
from .model import PodState
from .rbac import Attributes, Identity, forbidden
from .selectors import SelectorError, field_matcher, label_matcher
from .store import PodStore


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


class Reply(Exception):
    """Raised by a handler to answer with a Status body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.body = body


def status_response(body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=body["code"])


def matchers(request: web.Request) -> Callable[[dict[str, Any]], bool]:
    try:
        labels = label_matcher(request.query.get("labelSelector"))
        fields = field_matcher(request.query.get("fieldSelector"))
    except SelectorError as exc:
        raise Reply(objects.bad_request(str(exc))) from None
    return lambda obj: labels(obj["metadata"].get("labels", {})) and fields(obj)


def as_table(request: web.Request) -> bool:
    """Server-side printing, asked for by kubectl get (falls back to JSON otherwise)."""
    return "as=Table" in request.headers.get("Accept", "")


class Routes:
    """Handlers of one concern, bound to the daemon they serve."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def check(self, request: web.Request, verb: str, resource: str = "pods", name: str = "",
              subresource: str = "") -> None:
        """403 unless the caller's RBAC rules allow this request (namespace from the path)."""
        # authenticated by the middleware; looked up again rather than stored on the
        # request (typed request keys need aiohttp 3.11)
        identity = authenticate(request.headers.get("Authorization"), self.backend.identities)
        assert identity is not None
        attrs = Attributes(verb, resource, request.match_info.get("namespace", ""), name,
                           subresource)
        if not identity.allows(attrs):
            raise Reply(forbidden(identity.user, attrs))

    def find(self, request: web.Request) -> PodState:
        name = request.match_info["name"]
        pod = self.backend.store.pods.get(name)
        if pod is None or request.match_info["namespace"] != NAMESPACE:
            raise Reply(objects.not_found(name))
        return pod
