"""The launcher's own errors: bad input found before any daemon starts.

    LauncherError
    +-- UsageError       the command line is unusable (no `--`, no command)
    +-- HostfileError    missing, unreadable, empty or malformed hostfile; duplicate host
    +-- UnknownHost      a hostfile line names no pod / no resolvable host
    +-- NoCredentials    no cluster credentials (k8s) or no ssh key (ssh)
    +-- Unreachable      the cluster could not be asked before launching

Per-host failures once launching has begun are the transports' errors
(`launchers.errors`), kept in each host's outcome; only the CLI words them.
"""

from __future__ import annotations


class LauncherError(Exception):
    """Base of the errors that stop the launcher before it starts any daemon."""


class UsageError(LauncherError):
    """The command line cannot be used."""


class HostfileError(LauncherError):
    """The hostfile cannot be read or says something we refuse."""


class UnknownHost(LauncherError):
    """A host of the hostfile does not exist."""


class NoCredentials(LauncherError):
    """Nothing to authenticate with."""


class Unreachable(LauncherError):
    """The pre-flight lookup could not reach the cluster."""
