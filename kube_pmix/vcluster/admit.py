"""`kube-pmix-admit`: the first init container of a suspended cluster's login pod.

`kube-pmix deploy --suspend` creates the login Job suspended and the StatefulSet
with no replicas: nothing of the cluster runs while a queue (Kueue, or a person:
`kubectl patch job hpc-cluster-login -p '{"spec":{"suspend":false}}'`) holds the
Job. When it is resumed, its pod starts, and this scales the StatefulSet to the
cluster's size through its scale subresource (the Role allows only that, on that
StatefulSet); then the waiter waits for the compute pods as usual.

Exit statuses: 0 scaled, 3 API error (refused, forbidden, unreachable: the Job
retries it in a new pod), 2 usage (click).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kube_pmix.names import STATEFULSET

EXIT_API = 3


def scale_body(replicas: int) -> dict[str, Any]:
    """The merge patch of the scale subresource that asks for REPLICAS pods."""
    return {"spec": {"replicas": replicas}}


def scale(namespace: str, statefulset: str, replicas: int) -> None:
    """Scale STATEFULSET with the pod's service account (in-cluster configuration)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)
    api = client.AppsV1Api(client.ApiClient(configuration))
    api.patch_namespaced_stateful_set_scale(statefulset, namespace, scale_body(replicas))


@click.command()
@click.option("--namespace", required=True, help="The virtual cluster's namespace.")
@click.option("--replicas", type=click.IntRange(min=1), required=True,
              help="Compute pods the cluster has once admitted.")
@click.option("--statefulset", default=STATEFULSET, show_default=True)
def main(namespace: str, replicas: int, statefulset: str) -> None:
    """Scale the compute pods' StatefulSet to REPLICAS: the cluster was admitted."""
    try:
        scale(namespace, statefulset, replicas)
    except Exception as exc:  # the client's errors come as several unrelated types
        reason = getattr(exc, "reason", None) or exc
        click.echo(f"kube-pmix-admit: cannot scale statefulset {statefulset} in "
                   f"{namespace} to {replicas}: {reason}", err=True)
        sys.exit(EXIT_API)
    click.echo(f"kube-pmix-admit: statefulset {statefulset} scaled to {replicas}", err=True)
