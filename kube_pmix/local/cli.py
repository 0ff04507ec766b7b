"""`kube-pmix local`: bring a local cluster up and down, and look at it."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any, Callable, Optional, TypeVar

import click

from .config import MAX_PODS
from .errors import LocalClusterError

F = TypeVar("F", bound=Callable[..., Any])

name_option = click.option("--name", default="kube-pmix", show_default=True,
                           help="Name of the local cluster.")


def _errors_to_exit(func: F) -> F:
    """Our exceptions become one line on stderr and the exception's exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LocalClusterError as exc:
            click.echo(f"kube-pmix local: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group("local")
def local() -> None:
    """A Kubernetes-API-compatible cluster whose pods are Linux namespaces (needs root)."""


def _exec_errors(ctx: click.Context, param: click.Parameter,
                 values: tuple[str, ...]) -> dict[int, float]:
    from .faults import FaultSpecError, check_exec_errors, parse_exec_error

    try:
        errors: dict[int, float] = {}
        for value in values:
            code, share = parse_exec_error(value)
            errors[code] = errors.get(code, 0.0) + share
        return check_exec_errors(errors)
    except FaultSpecError as exc:
        raise click.BadParameter(str(exc)) from None


@local.command()
@click.option("--nodes", default=2, show_default=True, type=click.IntRange(1, MAX_PODS - 1),
              help="Number of compute pods (hpc-cn-0..N-1).")
@name_option
@click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Close exec sessions without data for this many seconds (default: never).")
@click.option("--exec-error", "exec_errors", multiple=True, metavar="CODE:SHARE",
              callback=_exec_errors,
              help="Answer this share of pods/exec requests with 429 (Retry-After: 1) or 503, "
                   "evenly spread (429:0.1 refuses every 10th); repeatable.")
@click.option("--registry", "with_registry", is_flag=True,
              help="Also run an image registry: push to it from this machine "
                   "(`kube-pmix local registry`), pods pull from registry.kube-pmix.local:5000.")
@_errors_to_exit
def up(nodes: int, name: str, idle_timeout: Optional[float],
       exec_errors: dict[int, float], with_registry: bool) -> None:
    """Create the cluster and print its kubeconfig path."""
    from .cluster import Cluster

    def progress(line: str) -> None:
        click.echo(line, err=True)

    cluster = Cluster.up(name=name, nodes=nodes, idle_timeout=idle_timeout, progress=progress,
                         exec_errors=exec_errors, with_registry=with_registry)
    click.echo(cluster.kubeconfig)


@local.command()
@name_option
@click.option("--all", "everything", is_flag=True,
              help="Every local cluster: all state directories and kp-* namespaces.")
@_errors_to_exit
def down(name: str, everything: bool) -> None:
    """Remove the cluster: pods, namespaces, bridge, server, state (also after a crash)."""
    from .cluster import down as down_cluster
    from .cluster import known_clusters, require_root

    if everything:
        require_root()
        for each in known_clusters():
            down_cluster(each)
            click.echo(f"removed local cluster {each}", err=True)
        return
    if not down_cluster(name):
        click.echo(f"kube-pmix local: no local cluster named {name!r}; nothing to do", err=True)


@local.command()
@name_option
@_errors_to_exit
def status(name: str) -> None:
    """List the pods: name, phase, IP, ready."""
    from .cluster import Cluster

    cluster = Cluster(name)
    rows = [("NAME", "PHASE", "IP", "READY")]
    rows += [(n, p["phase"], p["ip"] or "<none>", "true" if p["ready"] else "false")
             for n, p in sorted(cluster.pods().items())]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@local.command()
@name_option
@click.option("--restricted", is_flag=True, help="The read-only user's kubeconfig (no exec).")
@click.option("--service-account", is_flag=True,
              help="The pods' service account: the rights of the manifests' Role.")
@_errors_to_exit
def kubeconfig(name: str, restricted: bool, service_account: bool) -> None:
    """Print the path of the cluster's kubeconfig."""
    from .cluster import Cluster

    cluster = Cluster(name)
    click.echo(cluster.restricted_kubeconfig if restricted
               else cluster.service_account_kubeconfig if service_account
               else cluster.kubeconfig)


@local.command()
@name_option
@_errors_to_exit
def registry(name: str) -> None:
    """Print the image registry's address here, its address in the pods, and its CA file.

    Push with `podman push --cert-dir DIR IMAGE HERE/REPO:TAG`, DIR holding the CA
    as ca.crt; in the pods, `podman pull IN-PODS/REPO:TAG` trusts it already.
    """
    from .cluster import Cluster
    from .errors import ClusterNotFoundError

    cluster = Cluster(name)
    if not cluster.registry:
        raise ClusterNotFoundError(f"local cluster {name!r} has no registry (up --registry)")
    click.echo(f"here      {cluster.registry}")
    click.echo(f"in pods   {cluster.registry_in_cluster}")
    click.echo(f"CA        {cluster.registry_ca}")


@local.command("list")
@_errors_to_exit
def list_clusters() -> None:
    """Name every local cluster (state directory or bridge namespace left)."""
    from .cluster import known_clusters, require_root

    require_root()
    for name in known_clusters():
        click.echo(name)


@local.command(context_settings={"ignore_unknown_options": True})
@name_option
@click.argument("pod", required=False)
@click.argument("command", nargs=-1)
@_errors_to_exit
def login(name: str, pod: Optional[str], command: tuple[str, ...]) -> None:
    """Run COMMAND in POD with `kubectl exec -it` and this cluster's kubeconfig.

    Without POD: the login pod; without COMMAND: a login shell (`bash -l`), as
    `make login-*` opens on a virtual cluster."""
    from .cluster import Cluster

    cluster = Cluster(name)
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    argv = ["kubectl", "--kubeconfig", cluster.kubeconfig, "exec", *tty,
            pod or cluster.login_pod, "--", *(command or ("bash", "-l"))]
    sys.exit(subprocess.call(argv, env=os.environ.copy()))
