"""Running one stamped k8sgo `prterun` in a login pod (local cluster or the real bed)."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Callable, Optional

# What makes prterun and its daemons say when they reach each state (see account.py).
VERBOSE = {"PRTE_MCA_plm_base_verbose": "5", "PRTE_MCA_state_base_verbose": "1"}
# The pod's own python and our checkout/copy on PYTHONPATH run the stamp.
PodExec = Callable[..., "subprocess.CompletedProcess[str]"]


def stamped_argv(python: str, job: str, timeout: float, verbose: bool = True) -> list[str]:
    """The login pod's argv: the stamp running bash with `job` (pure)."""
    exports = " ".join(f"{k}={v}" for k, v in VERBOSE.items())
    line = (f"export {exports}; " if verbose else "") + job
    return [python, "-m", "bench.phases.stamp", f"{timeout:g}", "/bin/bash", "-c", line]


def parse(stdout: str) -> list[dict[str, Any]]:
    records = []
    for line in stdout.splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def run_stamped(pod_exec: PodExec, login_pod: str, python: str, job: str, timeout: float,
                env: Optional[dict[str, str]] = None,
                verbose: bool = True) -> list[dict[str, Any]]:
    """Run `job` under the stamp in the login pod; its records, also when cut off."""
    argv = stamped_argv(python, job, timeout, verbose)
    try:
        done = pod_exec(login_pod, argv, env=env, timeout=timeout + 60)
        out = done.stdout
    except subprocess.TimeoutExpired as exc:  # the stamp itself hung: keep what it said
        raw = exc.stdout or b""
        out = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    return parse(out)
