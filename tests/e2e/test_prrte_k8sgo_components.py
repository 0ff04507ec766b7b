"""plm/k8sgo and ess/k8sgo where no cluster is needed: bad settings and a hand-started
daemon, run on this machine as the unprivileged user with the PRRTE `make
prrte-k8sgo` built. Each stops before any daemon would need a pod."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

pytestmark = [pytest.mark.mpi]

USER = "mpiuser"
LAUNCHER = str(Path(sys.executable).with_name("basic_launcher"))


def as_user(prefix: Path, argv: list[str], env: Optional[dict[str, str]] = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.skip("runs PRRTE as the unprivileged pod user (needs root to switch)")
    entry = pwd.getpwnam(USER)
    base = {"HOME": entry.pw_dir, "PATH": f"{prefix}/bin:/usr/bin:/bin",
            "PRTE_PREFIX": str(prefix), "TMPDIR": "/tmp"}
    return subprocess.run(["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                           "--init-groups", "--", *argv], env={**base, **(env or {})}, cwd="/tmp",
                          capture_output=True, text=True, timeout=timeout)


def test_an_empty_launch_agent_is_a_help_text_not_a_crash(prrte_k8sgo: Path):
    done = as_user(prrte_k8sgo, ["prterun", "--host", "nosuchhost", "hostname"],
                   {"PRTE_MCA_plm_k8sgo_launch_script": LAUNCHER,
                    "PRTE_MCA_prte_launch_agent": ""})
    assert done.returncode == 1, done.stderr
    assert 'plm/k8sgo found no daemon command in prte_launch_agent ("")' in done.stderr


def hand_started_prted(prefix: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """A prted given the way to an HNP (one that is not there), but no launcher's id."""
    return as_user(prefix, ["prted", "--leave-session-attached", *extra,
                            "--prtemca", "ess_base_nspace", "prte-x@0",
                            "--prtemca", "ess_base_vpid", "1",
                            "--prtemca", "ess_base_num_procs", "2",
                            "--prtemca", "prte_hnp_uri", "prte-x@0.0;tcp://127.0.0.1:1:24"],
                   timeout=60)


def test_ess_k8sgo_claims_only_daemons_with_its_id_or_asking_for_it(prrte_k8sgo: Path):
    unasked = hand_started_prted(prrte_k8sgo)
    assert unasked.returncode != 0
    assert "PRTE_ESS_K8SGO_ID" not in unasked.stderr, unasked.stderr  # another ess took it
    asked = hand_started_prted(prrte_k8sgo, "--prtemca", "ess", "k8sgo")
    assert asked.returncode != 0
    assert "has no PRTE_ESS_K8SGO_ID in its environment" in asked.stderr, asked.stderr
