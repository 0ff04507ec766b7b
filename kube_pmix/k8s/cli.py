"""`kube-pmix k8s`: bring a real Kubernetes test bed up and down, and look at it."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

import click

from .errors import K8sClusterError

F = TypeVar("F", bound=Callable[..., Any])

name_option = click.option("--name", default="kube-pmix", show_default=True,
                           help="Name of the test bed (its state, namespace and cgroups).")


def _errors_to_exit(func: F) -> F:
    """Our exceptions become one line on stderr and the exception's exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except K8sClusterError as exc:
            click.echo(f"kube-pmix k8s: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


@click.group("k8s")
def k8s() -> None:
    """A real Kubernetes on this machine, built by `make k8s` (needs root).

    One node: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
    containerd + runc + a CNI bridge, the kubelet, kube-proxy and CoreDNS, with
    the project's image registry, all in a network namespace of their own.
    Exit statuses: 2 not root, 3 not built, 4 already running, 5 no such test
    bed, 6 a component failed (the line names it and its log)."""


@k8s.command()
@name_option
@click.option("--max-pods", default=256, show_default=True, type=click.IntRange(16, 1020),
              help="The kubelet's maxPods.")
@click.option("--timeout", default=900, show_default=True, type=click.FloatRange(min=1),
              help="Seconds to wait for every component to be ready.")
@_errors_to_exit
def up(name: str, max_pods: int, timeout: float) -> None:
    """Start the test bed; print its kubeconfig's path once the node is Ready and CoreDNS
    answers."""
    from .cluster import up as up_cluster

    cluster = up_cluster(name, progress=lambda line: click.echo(line, err=True),
                         max_pods=max_pods, timeout=timeout)
    click.echo(cluster.kubeconfig)


@k8s.command()
@name_option
@click.option("--all", "everything", is_flag=True, help="Every test bed left on this machine.")
@_errors_to_exit
def down(name: str, everything: bool) -> None:
    """Remove the test bed: pods, processes, cgroups, namespace, mounts, state."""
    from .cluster import down as down_cluster
    from .cluster import known_clusters, require_root

    require_root()
    for each in known_clusters() if everything else [name]:
        if down_cluster(each):
            click.echo(f"removed real test bed {each}", err=True)
        elif not everything:
            click.echo(f"kube-pmix k8s: no real test bed named {each!r}; nothing to do",
                       err=True)


@k8s.command()
@name_option
@_errors_to_exit
def status(name: str) -> None:
    """Each component: pid, running or exit status, log file."""
    from .cluster import K8sCluster

    cluster = K8sCluster(name)
    cluster.plan  # noqa: B018 - raises ClusterNotFoundError for an unknown name
    rows = [("COMPONENT", "PID", "STATE", "LOG")]
    for component, info in cluster.status().items():
        code = info.get("returncode")
        rows.append((component, str(info.get("pid")),
                     "running" if code is None else f"exited {code}", str(info.get("log"))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    click.echo(f"\n{'ready' if cluster.ready else 'not ready'}; API here: "
               f"{cluster.plan.api_here}; kubeconfig: {cluster.kubeconfig}")


@k8s.command()
@name_option
@click.option("--restricted", is_flag=True, help="The read-only user's kubeconfig (no exec).")
@_errors_to_exit
def kubeconfig(name: str, restricted: bool) -> None:
    """Print the path of the test bed's kubeconfig (admin, or the read-only user's)."""
    from .cluster import K8sCluster

    cluster = K8sCluster(name)
    cluster.plan  # noqa: B018 - raises ClusterNotFoundError for an unknown name
    click.echo(cluster.restricted_kubeconfig if restricted else cluster.kubeconfig)


@k8s.command()
@name_option
@_errors_to_exit
def registry(name: str) -> None:
    """Print the registry's address here, its address in the cluster, and its CA file."""
    from .cluster import K8sCluster

    cluster = K8sCluster(name)
    click.echo(f"here      {cluster.registry}")
    click.echo(f"in pods   {cluster.registry_in_cluster}")
    click.echo(f"CA        {cluster.ca}")


@k8s.command("list")
@_errors_to_exit
def list_clusters() -> None:
    """Name every test bed with state or a namespace left on this machine."""
    from .cluster import known_clusters, require_root

    require_root()
    for name in known_clusters():
        click.echo(name)
