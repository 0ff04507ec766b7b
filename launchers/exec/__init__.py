"""Running processes in pods over the Kubernetes exec API, a package that stands alone.

Public surface (tests/unit/launchers/test_launchers_surface.py pins it): the
asyncio driver for launchers that run many processes from one loop, the
completed-process record, config loading and the error tree. The modules are
private. Loaded lazily so that kubexec (exec.blocking, one session) never pays
for importing asyncio.

    core       the I/O-free protocol state machine (h11 style), tested on bytes
    blocking   its blocking driver (kubexec);  transport: its asyncio driver
    edge       socket/TLS/HTTP failures -> errors;  retry: when to try again
    config, hosts, errors, process, protocol
"""

from __future__ import annotations

from typing import Any

_WHERE = {
    "ExecProcess": "transport",
    "ExecSession": "transport",
    "GuardedProcess": "transport",
    "RemoteProcess": "transport",
    "open_guarded": "transport",
    "CompletedProcess": "process",
    "ClusterConfig": "config",
    "load_config": "config",
    "KubeExecError": "errors",
    "ConfigError": "errors",
    "HostNotFound": "errors",
    "ApiError": "errors",
    "Unauthorized": "errors",
    "Forbidden": "errors",
    "PodNotFound": "errors",
    "PodNotRunning": "errors",
    "ConnectionFailed": "errors",
    "ConnectionLost": "errors",
    "ProtocolError": "errors",
    "ProcessError": "errors",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        # __import__, not importlib: importing importlib costs kubexec a millisecond.
        module = __import__(f"launchers.exec.{_WHERE[name]}", fromlist=[name])
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
