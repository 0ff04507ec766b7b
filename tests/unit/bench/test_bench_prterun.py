"""bench.prterun's command lines: same PRRTE for every variant, only the daemon launch differs."""

from __future__ import annotations

from pathlib import Path

from bench.prterun import PREFIX, command

HOSTFILE = Path("/b/hostfile-32")
AGENT = Path("/b/kubexec.sh")
RUN = f"prterun --hostfile {HOSTFILE} --map-by ppr:1:node hostname"
BASE = f"export PRTE_PREFIX={PREFIX} PATH={PREFIX}/bin:$PATH; "


def test_k8sgo_selects_the_component_and_the_launcher():
    assert command("k8sgo", HOSTFILE, AGENT) == (
        BASE + "export PRTE_MCA_plm=k8sgo "
        "PRTE_MCA_plm_k8sgo_launch_script=$(command -v basic_launcher); " + RUN)


def test_k8sgo_detach_differs_only_in_the_detach_setting():
    assert command("k8sgo+detach", HOSTFILE, AGENT) == (
        BASE + "export PRTE_MCA_plm=k8sgo PRTE_MCA_plm_k8sgo_detach=true "
        "PRTE_MCA_plm_k8sgo_launch_script=$(command -v basic_launcher); " + RUN)


def test_ssh_variants_are_flat_and_differ_only_in_the_agent():
    for variant, agent in (("ssh+kubexec", "kubexec"), ("ssh+kubectl", str(AGENT))):
        assert command(variant, HOSTFILE, AGENT) == (
            BASE + f"export PRTE_MCA_plm=ssh PRTE_MCA_plm_ssh_agent={agent} "
            "PRTE_MCA_plm_ssh_no_tree_spawn=1; " + RUN)
