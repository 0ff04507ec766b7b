"""Deploy, enter and remove a virtual cluster with kubectl.

Argument builders are pure (tested by equality); `run`/`run_input` execute them and
turn failures into CommandError. kubectl is used rather than the Python client
because it is what users have, gives server-side apply semantics and the
interactive `exec -it` that `login` needs.
"""

from __future__ import annotations

import json
import subprocess
from typing import Optional

from kube_pmix.vcluster import paths
from kube_pmix.vcluster.errors import CommandError


def _ns(kubectl: str, namespace: str, context: Optional[str]) -> list[str]:
    argv = [kubectl]
    if context:
        argv += ["--context", context]
    return [*argv, "--namespace", namespace]


def apply_argv(namespace: str, kubectl: str = "kubectl",
               context: Optional[str] = None) -> list[str]:
    """Apply the manifests given on stdin."""
    return [*_ns(kubectl, namespace, context), "apply", "-f", "-"]


def delete_argv(namespace: str, kubectl: str = "kubectl", context: Optional[str] = None,
                wait: bool = True) -> list[str]:
    """Delete the manifests given on stdin; absent objects are not an error. Foreground:
    an owner is gone only once what it owns is (the pods), so a waiting delete returns
    when the namespace holds nothing of the cluster."""
    return [*_ns(kubectl, namespace, context), "delete", "--ignore-not-found",
            "--cascade=foreground", f"--wait={'true' if wait else 'false'}", "-f", "-"]


def secret_exists_argv(namespace: str, kubectl: str = "kubectl",
                       context: Optional[str] = None) -> list[str]:
    return [*_ns(kubectl, namespace, context), "get", "secret", paths.SSH_SECRET,
            "--ignore-not-found", "-o", "name"]


def delete_secret_argv(namespace: str, kubectl: str = "kubectl",
                       context: Optional[str] = None) -> list[str]:
    return [*_ns(kubectl, namespace, context), "delete", "secret", paths.SSH_SECRET,
            "--ignore-not-found"]


def delete_named_argv(namespace: str, kind: str, name: str, kubectl: str = "kubectl",
                      context: Optional[str] = None) -> list[str]:
    return [*_ns(kubectl, namespace, context), "delete", kind, name, "--ignore-not-found"]


def get_json_argv(namespace: str, what: list[str], kubectl: str = "kubectl",
                  context: Optional[str] = None) -> list[str]:
    """`kubectl get WHAT -o json` (the login wait reads the Job, the pods and the nodes)."""
    return [*_ns(kubectl, namespace, context), "get", *what, "-o", "json"]


def version_argv(kubectl: str = "kubectl", context: Optional[str] = None) -> list[str]:
    argv = [kubectl, *(["--context", context] if context else [])]
    return [*argv, "version", "-o", "json"]


def login_argv(namespace: str, pod: str, kubectl: str = "kubectl",
               context: Optional[str] = None, command: Optional[list[str]] = None,
               tty: bool = True) -> list[str]:
    """An interactive login shell in POD's main container, or `bash -lc COMMAND` (no tty):
    a login shell either way, so the PATH and environment are what a user gets."""
    argv = [*_ns(kubectl, namespace, context), "exec", "-it" if tty else "-i", pod,
            "-c", paths.LOGIN_CONTAINER, "--"]
    if command:
        return [*argv, "/bin/bash", "-lc", " ".join(command)]
    return [*argv, "/bin/bash", "-l"]


def owner_patch_argv(namespace: str, kind: str, name: str, owner_uid: str,
                     kubectl: str = "kubectl", context: Optional[str] = None) -> list[str]:
    """Make KIND/NAME belong to the login Job: deleting the Job (by hand, or by its
    ttlSecondsAfterFinished) deletes it too, through the garbage collector."""
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": paths.LOGIN_JOB,
             "uid": owner_uid, "blockOwnerDeletion": False}
    patch = json.dumps({"metadata": {"ownerReferences": [owner]}})
    return [*_ns(kubectl, namespace, context), "patch", kind, name, "--type=merge",
            "-p", patch]


def rollout_argv(namespace: str, what: str, timeout: int, kubectl: str = "kubectl",
                 context: Optional[str] = None) -> list[str]:
    return [*_ns(kubectl, namespace, context), "rollout", "status", what,
            f"--timeout={timeout}s"]


def waitfor_log_argv(namespace: str, kubectl: str = "kubectl",
                     context: Optional[str] = None) -> list[str]:
    """The job-waiter init container's log (the seed's `get-waitfor-log`)."""
    return [*_ns(kubectl, namespace, context), "logs", f"job/{paths.LOGIN_JOB}",
            "-c", paths.WAITER_CONTAINER]


def run(argv: list[str], stdin_text: Optional[str] = None, capture: bool = False,
        stream_stderr: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ARGV; raise CommandError (with its last stderr line) on failure.

    stderr is captured, for that message and for the caller to show (kubectl's
    warnings), unless STREAM_STDERR (long image builds show their progress);
    stdout only when CAPTURE, else it goes to ours.
    """
    try:
        done = subprocess.run(
            argv, input=stdin_text, text=True, check=False,
            stdout=subprocess.PIPE if capture else None,
            stderr=None if stream_stderr else subprocess.PIPE,
        )
    except FileNotFoundError:
        raise CommandError(argv, -1) from None
    if done.returncode != 0:
        lines = (done.stderr or "").strip().splitlines()
        raise CommandError(argv, done.returncode, lines[-1] if lines else "")
    return done


def interactive(argv: list[str]) -> int:
    """Run ARGV attached to this terminal; its exit status is the user's, not an error."""
    try:
        return subprocess.call(argv)
    except FileNotFoundError:
        raise CommandError(argv, -1) from None
