"""The real test bed's exceptions: one small tree, mapped to messages and exit codes by the CLI.

    K8sClusterError
    ├── NotRootError          namespaces, mounts and cgroups need root
    ├── MissingBuildError     `make k8s` has not built a component (or no Go to build it)
    ├── ClusterExistsError    `up` on a cluster that is already running
    ├── ClusterNotFoundError  no state for that name
    ├── ComponentError        a component died or never became ready (names its log)
    └── UpError               `up` failed: the daemon's line, and what was cleaned up
"""

from __future__ import annotations


class K8sClusterError(Exception):
    """Base of every error the real test bed raises on purpose."""

    exit_code = 1


class NotRootError(K8sClusterError):
    exit_code = 2


class MissingBuildError(K8sClusterError):
    exit_code = 3


class ClusterExistsError(K8sClusterError):
    exit_code = 4


class ClusterNotFoundError(K8sClusterError):
    exit_code = 5


class ComponentError(K8sClusterError):
    """A component failed: the message names it and the log file to read."""

    exit_code = 6

    def __init__(self, component: str, what: str, log: object = None) -> None:
        self.component = component
        self.log = log
        tail = f" (log: {log})" if log is not None else ""
        super().__init__(f"{component}: {what}{tail}")


class UpError(K8sClusterError):
    exit_code = 6
