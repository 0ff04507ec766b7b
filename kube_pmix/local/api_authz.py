"""SelfSubjectAccessReview: "may I?", answered by the same RBAC evaluator that guards
every route, so `kubectl auth can-i` tells the truth about the local cluster as it
does about a real one (the tests compare both)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from . import objects, protowire
from .api_base import Reply, Routes
from .auth import authenticate
from .rbac import Attributes

GROUP_VERSION = "authorization.k8s.io/v1"


# SelfSubjectAccessReview: 2 spec; its spec: 1 resourceAttributes, 2 nonResourceAttributes
RESOURCE_ATTRIBUTES = {"namespace": 1, "verb": 2, "group": 3, "version": 4, "resource": 5,
                       "subresource": 6, "name": 7}


def _spec_from_protobuf(raw: bytes) -> dict[str, Any]:
    """The review's spec, as the JSON form has it."""
    spec = protowire.message(protowire.unwrap(raw)).get(2, b"")
    if not isinstance(spec, bytes):
        raise ValueError("no spec")
    parts = protowire.message(spec)
    attrs = parts.get(1)
    if isinstance(attrs, bytes):
        fields = protowire.message(attrs)
        return {"resourceAttributes": {key: protowire.text(fields, number)
                                       for key, number in RESOURCE_ATTRIBUTES.items()}}
    return {"nonResourceAttributes": {}}


class AuthzRoutes(Routes):
    async def self_subject_access_review(self, request: web.Request) -> web.Response:
        identity = authenticate(request.headers.get("Authorization"), self.backend.identities)
        assert identity is not None  # the middleware answered 401 otherwise
        raw = await request.read()
        try:
            if request.content_type == protowire.CONTENT_TYPE:
                spec = _spec_from_protobuf(raw)
            else:
                spec = json.loads(raw)["spec"]
            if not isinstance(spec, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise Reply(objects.bad_request("a SelfSubjectAccessReview needs a spec")) from None
        attrs = spec.get("resourceAttributes")
        if not isinstance(attrs, dict):
            # nonResourceAttributes (URLs): the local cluster grants none of them
            allowed, reason = False, "no non-resource URL is granted here"
        else:
            request_attrs = Attributes(
                verb=str(attrs.get("verb", "")), resource=str(attrs.get("resource", "")),
                namespace=str(attrs.get("namespace", "")), name=str(attrs.get("name", "")),
                subresource=str(attrs.get("subresource", "")),
                api_group=str(attrs.get("group", "")))
            allowed = identity.allows(request_attrs)
            reason = "allowed by a Role or ClusterRole" if allowed else ""
        review = {"kind": "SelfSubjectAccessReview", "apiVersion": GROUP_VERSION,
                  "metadata": {"creationTimestamp": None}, "spec": spec,
                  "status": {"allowed": allowed, **({"reason": reason} if reason else {})}}
        return web.json_response(review, status=201)
