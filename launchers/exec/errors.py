"""The errors of the launchers, one small tree; only CLIs turn them into messages.

Transports translate what they meet (HTTP `Status` bodies, socket and TLS
errors, broken WebSocket framing) into these at their edge, so callers never
see `ssl.SSLError` or a raw JSON body::

    KubeExecError               anything that kept a command from running remotely
    +-- ConfigError             no usable credentials / kubeconfig is broken
    +-- HostNotFound            HOST names no pod (e.g. no pod has that IP)
    +-- ApiError                the API server said no (HTTP status + message)
    |   +-- Unauthorized        401: credentials rejected
    |   +-- Forbidden           403: RBAC forbids pods/exec (or the list call)
    |   +-- PodNotFound         404: no such pod in the namespace
    |   +-- PodNotRunning       pod completed, or its container is not running
    +-- ConnectionFailed        could not reach the API server (refused, TLS, timeout)
    +-- ConnectionLost          the exec session broke before the exit status came
    +-- ProtocolError           the server broke the WebSocket / exec protocol
    +-- ProcessError            run(check=True): the command ran and exited non-zero

Every error carries the `target` it is about (pod name, or the server) so a
one-line message can name it, as ssh does.
"""

from __future__ import annotations

from typing import Optional


class KubeExecError(Exception):
    """Base: a remote command could not be run or its status could not be known."""

    def __init__(self, reason: str, target: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.target = target

    def __str__(self) -> str:
        return f"{self.target}: {self.reason}" if self.target else self.reason


class ConfigError(KubeExecError):
    """No usable cluster credentials, or a kubeconfig we cannot read."""


class HostNotFound(KubeExecError):
    """The HOST given does not name a pod we can find."""


class ApiError(KubeExecError):
    """The API server refused the request; `code` is the HTTP status.

    `retry_after`: seconds the server's `Retry-After` header asked us to wait, if any.
    """

    def __init__(self, reason: str, target: str = "", code: int = 0,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(reason, target)
        self.code = code
        self.retry_after = retry_after


class Unauthorized(ApiError):
    """401: the server did not accept our credentials."""


class Forbidden(ApiError):
    """403: authenticated, but RBAC does not allow this (e.g. create pods/exec)."""


class PodNotFound(ApiError):
    """404: no pod of that name in the namespace."""


class PodNotRunning(ApiError):
    """The pod exists but its container cannot run commands (completed, not started)."""


class ConnectionFailed(KubeExecError):
    """The API server could not be reached: refused, unresolvable, TLS failure, timeout.

    `transient`: it failed before any request byte was sent, in a way waiting may cure
    (refused, reset, TLS handshake broken); launchers.exec.retry retries those.
    """

    def __init__(self, reason: str, target: str = "", transient: bool = False) -> None:
        super().__init__(reason, target)
        self.transient = transient


class ConnectionLost(KubeExecError):
    """The exec session broke before the remote exit status arrived."""


class ProtocolError(KubeExecError):
    """The server answered something that is not the WebSocket exec protocol."""


class ProcessError(KubeExecError):
    """The remote command ran and exited non-zero (asyncssh's ProcessError, for `check=True`).

    Carries what `run()` would have returned: the command, exit status and collected output.
    """

    def __init__(self, command: str, exit_status: int, stdout: Optional[bytes] = None,
                 stderr: Optional[bytes] = None, target: str = "") -> None:
        super().__init__(f"command {command!r} exited with status {exit_status}", target)
        self.command = command
        self.exit_status = exit_status
        self.stdout = stdout
        self.stderr = stderr
