"""The errors of the virtual-cluster tools; the CLI maps each to a message and exit status.

    VClusterError
    +-- UnknownName     no such variant or image
    +-- RenderError     kustomize failed or produced something unexpected
    +-- CommandError    kubectl / podman / docker exited non-zero or is missing
    +-- LoginError      no Ready login pod: the Job failed, a device is missing, timed out
    +-- VersionError    the cluster's Kubernetes is older than the manifests need
"""

from __future__ import annotations


class VClusterError(Exception):
    """Base of the virtual-cluster errors."""


class UnknownName(VClusterError):
    """A variant or image name that is not in our tables."""


class RenderError(VClusterError):
    """The manifests could not be rendered."""


class CommandError(VClusterError):
    """An external command failed; carries its argv and exit status."""

    def __init__(self, argv: list[str], status: int, detail: str = "") -> None:
        self.argv = argv
        self.status = status
        self.detail = detail
        shown = " ".join(argv)
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        what = f"`{shown}` exited {status}" if status >= 0 else f"{argv[0]} not found"
        super().__init__(f"{what}: {detail}" if detail else what)


class LoginError(VClusterError):
    """The login pod did not become Ready; says why."""


class VersionError(VClusterError):
    """The cluster's Kubernetes is older than the oldest release the manifests support."""
