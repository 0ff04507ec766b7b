"""What the daemon knows about one pod (the runtime side and what the API shows)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional


@dataclass
class Container:
    name: str
    image: str = "kube-pmix/local"
    running: bool = True  # False: a completed init container (exec gets InternalError)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class PodState:
    name: str
    labels: dict[str, str]
    containers: list[Container]
    init_containers: list[Container] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    hostname: Optional[str] = None
    subdomain: Optional[str] = None
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    )
    resource_version: int = 0
    phase: str = "Pending"
    ready: bool = False
    started: Optional[datetime.datetime] = None
    ready_since: Optional[datetime.datetime] = None
    ip: Optional[str] = None
    pause_pid: Optional[int] = None
    veth: Optional[str] = None
    extra_spec: dict[str, Any] = field(default_factory=dict)

    def container(self, name: str) -> Optional[Container]:
        for c in self.containers + self.init_containers:
            if c.name == name:
                return c
        return None

    def summary(self) -> dict[str, Any]:
        """The slice that `down`, `status` and the test fixture read from pods.json."""
        return {
            "name": self.name,
            "phase": self.phase,
            "ready": self.ready,
            "ip": self.ip,
            "pause_pid": self.pause_pid,
            "labels": self.labels,
        }
