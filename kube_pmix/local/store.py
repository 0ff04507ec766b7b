"""The pods the API serves, with resourceVersions and a watch event history."""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Callable, Optional

from . import objects
from .model import PodState

Event = tuple[int, str, dict[str, Any]]  # (resourceVersion, type, object)


class ResourceExpired(Exception):
    """The requested resourceVersion is older than the kept history (HTTP 410)."""


class PodStore:
    def __init__(self, host_ip: str, on_change: Callable[[], None], history: int = 5000) -> None:
        self.host_ip = host_ip
        self.pods: dict[str, PodState] = {}
        self.resource_version = 1
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        self._watchers: set[asyncio.Queue[Event]] = set()
        self._on_change = on_change

    def render(self, pod: PodState) -> dict[str, Any]:
        return objects.pod_object(pod, self.host_ip)

    def _publish(self, kind: str, pod: PodState) -> None:
        self.resource_version += 1
        pod.resource_version = self.resource_version
        event = (self.resource_version, kind, self.render(pod))
        self._history.append(event)
        for queue in self._watchers:
            queue.put_nowait(event)
        self._on_change()

    def add(self, pod: PodState) -> None:
        self.pods[pod.name] = pod
        self._publish("ADDED", pod)

    def modified(self, pod: PodState) -> None:
        if self.pods.get(pod.name) is pod:
            self._publish("MODIFIED", pod)

    def remove(self, pod: PodState) -> None:
        if self.pods.get(pod.name) is pod:
            del self.pods[pod.name]
            self._publish("DELETED", pod)

    def objects(self) -> list[dict[str, Any]]:
        return [self.render(p) for p in self.pods.values()]

    def subscribe(self, since: Optional[int]) -> tuple[asyncio.Queue[Event], list[Event]]:
        """A queue of future events plus the backlog a watch from `since` must see first.

        No resourceVersion (or "0"): synthetic ADDED events for every pod, as the
        apiserver does. A version older than the history: ResourceExpired.
        """
        if since is None or since == 0:
            backlog = [(p.resource_version, "ADDED", self.render(p)) for p in self.pods.values()]
        else:
            oldest = self._history[0][0] if self._history else self.resource_version + 1
            if since < oldest - 1 and since < self.resource_version:
                raise ResourceExpired(f"too old resource version: {since} ({oldest - 1})")
            backlog = [e for e in self._history if e[0] > since]
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._watchers.add(queue)
        return queue, backlog

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._watchers.discard(queue)
