"""Running processes in pods over the Kubernetes exec API.

Public surface (a test pins it): the asyncio transport for launchers that run
many processes from one loop. Loaded lazily so that `launchers.exec.blocking`
(kubexec's single-session client) never pays for importing asyncio.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExecProcess", "ExecSession", "GuardedProcess", "RemoteProcess", "open_guarded"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from launchers.exec import transport

        return getattr(transport, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
