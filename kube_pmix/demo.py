"""`kube-pmix demo`: the paper's demo on a fresh local cluster.

Builds the project's `k8s-mpi` image (as the pod user; podman's layer cache
makes a second run cheap), brings up a local cluster with its image registry
and pushes the image there. Then, inside the login pod and as its unprivileged
user (entered with the real `kubectl exec`, as a user would), runs the
listings of the paper's README: the traditional ones (`prterun --map-by
ppr:2:node hostname`, `init_finalize`, the persistent DVM with `prte`, `prun`,
`pterm`), the FAQ's own launcher (`plm/k8sgo` through `basic_launcher`, whose
line shows, then silenced), then the separated model, each rank in a container
of its own from `$MPI_IMAGE` (`podman pull`, `wrap-container.sh`), and the FAQ's
prun injection. The cluster is torn down afterwards, also when a step fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

_TRADITIONAL = (
    "prterun --map-by ppr:2:node hostname",
    "prterun --personality ompi --map-by ppr:2:node {init_finalize}",
    "prte --daemonize",
    "prun hostname",
    "prun --map-by ppr:1:node hostname",
    "pterm",
)
# The FAQ's "Can I build my own PRRTE daemon launcher?", as typed there: the
# launcher's line shows that it started the daemons, until quiet mode is set.
_K8SGO = (
    "export PRTE_MCA_plm_k8sgo_launch_script=/opt/hpc/bin/basic_launcher",
    "prterun --map-by ppr:2:node hostname",
    "export PRTE_MCA_plm_k8sgo_launch_quiet=true",
    "prterun --map-by ppr:2:node hostname",
)
_WRAP = "/opt/hpc/local/bin/wrap-container.sh"
_EXAMPLE = "/opt/hpc/examples/bin/init_finalize"
# The seed README's podman listings and its FAQ, as typed there (ours forwards
# only the PMIx/MPI environment into a container, so the outer one is told to
# pass MPI_IMAGE on with -e).
_SEPARATED = (
    "export MPI_IMAGE={image}",
    "podman pull -q $MPI_IMAGE",
    "prterun --map-by ppr:1:node podman pull -q $MPI_IMAGE",
    f"prterun --personality ompi --map-by ppr:2:node -x MPI_IMAGE {_WRAP} {_EXAMPLE}",
    "prte --daemonize --report-uri /tmp/find-me.txt",
    f"{_WRAP} --prun --dvm-uri /tmp/find-me.txt prun --personality ompi hostname | sort | uniq -c",
    f"{_WRAP} -e MPI_IMAGE --prun --dvm-uri /tmp/find-me.txt prun --personality ompi "
    f"--map-by ppr:2:node -x MPI_IMAGE {_WRAP} {_EXAMPLE}",
    "pterm",
)
IMAGE_REGISTRY = "localhost/kube-pmix"
IMAGE_TAG = "0.1.0"


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


def _run_step(kubeconfig: str, pod: str, command: str, exports: str = "") -> int:
    """One listing, as typed in the login pod; a job that never ends is stopped.

    Each listing is its own `kubectl exec`; EXPORTS (the `export` lines shown
    before) are run first, so the listings read as one shell session.
    """
    click.secho(f"[mpiuser@{pod} ~]$ {command}", bold=True)
    try:
        return subprocess.run(_kubectl_exec(kubeconfig, pod, exports + command),
                              timeout=300).returncode
    except subprocess.TimeoutExpired:
        # kubectl exec leaves the remote command running: end the launcher
        # itself; kubexec then ends the daemons it started
        subprocess.run(_kubectl_exec(kubeconfig, pod, "pkill -x prterun; pkill -x prun"),
                       timeout=60)
        click.secho("the job did not end within 300 s", fg="red", err=True)
        return 124


def build_app_image(repo: Path) -> str:
    """Builds k8s-mpi (and its parent) as the pod user; returns its local reference.

    Needs the base image and the wheelhouse (`make demo` makes both first).
    """
    import pwd

    from kube_pmix.local.push import as_user, stop_podman_pause
    from kube_pmix.names import POD_USER

    entry = pwd.getpwnam(POD_USER)
    argv = as_user(entry, [str(Path(sys.executable).parent / "kube-pmix"), "images", "build",
                           "mpi", "--registry", IMAGE_REGISTRY, "--tag", IMAGE_TAG])
    click.secho(f"building k8s-mpi as {POD_USER} (cached after the first run)", bold=True)
    built = subprocess.run(argv, cwd=repo).returncode == 0
    stop_podman_pause(entry)
    if not built:
        raise click.ClickException("building the k8s-mpi image failed (see above); "
                                   "`make demo` makes the base image and wheelhouse it needs")
    return f"{IMAGE_REGISTRY}/k8s-mpi:{IMAGE_TAG}"


def _steps(kubeconfig: str, login: str, steps: tuple[str, ...], **values: str) -> int:
    """Runs the listings in order; the first that fails stops them (its status)."""
    exports = ""
    for step in steps:
        command = step.format(**values)
        status = _run_step(kubeconfig, login, command, exports)
        if status != 0:
            click.secho(f"step failed with exit status {status}: {command}", fg="red", err=True)
            return status
        if command.startswith("export "):
            exports += command + "; "
    return 0


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
@click.option("--separated/--traditional-only", default=True, show_default=True,
              help="Also the separated model: ranks in containers of the k8s-mpi image.")
@click.option("--keep", is_flag=True, help="Leave the cluster running afterwards.")
def demo(nodes: int, name: str, source: Path, separated: bool, keep: bool) -> None:
    """Run the paper's demo on a fresh local cluster (needs root)."""
    if shutil.which("kubectl") is None:
        raise click.ClickException("kubectl not found on PATH; it is the client the demo uses")
    binary = compile_example(source, Path("build/bin/init_finalize").resolve())
    image = build_app_image(Path.cwd()) if separated else ""
    up = ["local", "up", "--nodes", str(nodes), "--name", name]
    subprocess.run(_kube_pmix(*up, *(["--registry"] if separated else [])), check=True)
    failed = 0
    try:
        from kube_pmix.local.cluster import Cluster

        cluster = Cluster(name)
        kubeconfig, login = cluster.kubeconfig, cluster.login_pod
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "pods", "-o", "wide"])
        failed = _steps(kubeconfig, login, _TRADITIONAL, init_finalize=str(binary))
        if not failed:
            failed = _steps(kubeconfig, login, _K8SGO)
        if separated and not failed:
            import pwd

            from kube_pmix.local.errors import LocalClusterError
            from kube_pmix.local.push import push, stop_podman_pause
            from kube_pmix.names import POD_USER

            click.secho(f"pushing {image} into the cluster's registry", bold=True)
            entry = pwd.getpwnam(POD_USER)
            try:
                push(entry, cluster.registry, cluster.registry_ca, image,
                     f"kube-pmix/k8s-mpi:{IMAGE_TAG}")
            except LocalClusterError as exc:
                raise click.ClickException(str(exc)) from None
            finally:
                stop_podman_pause(entry)
            failed = _steps(kubeconfig, login, _SEPARATED,
                            image=f"{cluster.registry_in_cluster}/kube-pmix/k8s-mpi:{IMAGE_TAG}")
    finally:
        if not keep:
            subprocess.run(_kube_pmix("local", "down", "--name", name), check=False)
    if failed:
        sys.exit(1)
