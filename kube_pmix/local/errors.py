"""The local cluster's exceptions: one small tree, mapped to messages and exit codes by the CLI.

    LocalClusterError
    ├── NotRootError          namespaces, veths and mounts need root
    ├── SetupError            the pod user, its podman store or the venv is not usable
    ├── ClusterExistsError    `up` on a cluster that is already running
    ├── ClusterNotFoundError  no state for that name
    └── DaemonError           the API server died or never answered
"""

from __future__ import annotations


class LocalClusterError(Exception):
    """Base of every error the local cluster raises on purpose."""

    exit_code = 1


class NotRootError(LocalClusterError):
    exit_code = 2


class SetupError(LocalClusterError):
    exit_code = 3


class ClusterExistsError(LocalClusterError):
    exit_code = 4


class ClusterNotFoundError(LocalClusterError):
    exit_code = 5


class DaemonError(LocalClusterError):
    exit_code = 6
