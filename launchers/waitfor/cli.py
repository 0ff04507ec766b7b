"""`kube-pmix-wait-for-pods`: the login pod's init container.

Waits for the compute pods of the virtual cluster and writes the hostfiles the
login shell and PRRTE use. Exit statuses: 0 done, 1 timed out (the message names
the pods and why), 3 API error (forbidden, or unreachable/failing until the
deadline), 4 cannot write the hostfiles, 2 usage (click). Transient API errors
(429, 5xx, connection refused or reset) are retried with backoff and jitter;
`--timeout` is a hard deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import click

from kube_pmix.names import COMPUTE_SELECTOR, NAMESPACE, SERVICE
from launchers.waitfor.loop import wait_for_pods
from launchers.waitfor.pods import ApiError, WaitSpec, WaitTimeout, write_hostfiles

EXIT_TIMEOUT = 1
EXIT_API = 3
EXIT_WRITE = 4
# the waiter keeps --timeout by itself; the alarm only catches what it could not bound
DEADLINE_GRACE = 2.0

_SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_SELECTOR = COMPUTE_SELECTOR


def _default_namespace() -> str:
    try:
        with open(_SA_NAMESPACE) as f:
            return f.read().strip() or NAMESPACE
    except OSError:
        return NAMESPACE


def _core_v1(kubeconfig: Optional[str], context: Optional[str]) -> Any:
    """A CoreV1Api: explicit kubeconfig, else in-cluster, else the default kubeconfig.
    urllib3's own retries are off: the waiter retries, within its deadline."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, context=context,
                                    client_configuration=configuration)
        elif os.environ.get("KUBERNETES_SERVICE_HOST") and not context:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(context=context, client_configuration=configuration)
    except Exception as exc:  # config errors come as several unrelated types
        raise ApiError(f"no usable Kubernetes configuration: {exc}") from exc
    configuration.retries = False
    return client.CoreV1Api(client.ApiClient(configuration))


class _Deadline(Exception):
    """The backstop alarm: --timeout (plus grace) passed inside a blocking call."""


@contextlib.contextmanager
def _hard_deadline(seconds: float) -> Iterator[None]:
    """SIGALRM after `seconds`: whatever a library does, the process keeps --timeout."""

    def ring(signum: int, frame: Any) -> None:
        raise _Deadline()

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _progress(line: str) -> None:
    click.echo(f"wait-for-pods: {line}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-n", "--count", type=click.IntRange(min=1), required=True,
              help="Number of compute pods to wait for.")
@click.option("--namespace", default=None,
              help="Namespace of the pods [default: the pod's own, else kube-pmix].")
@click.option("-l", "--selector", default=DEFAULT_SELECTOR, show_default=True,
              help="Label selector of the compute pods.")
@click.option("--service", default=SERVICE, show_default=True,
              help="Headless service that gives the pods DNS names ('' for none).")
@click.option("--self-name", "self_names", multiple=True, metavar="NAME",
              help="Another DNS name that must resolve first (the login pod's own name, "
                   "which the daemons call back to). Repeatable.")
@click.option("--dns/--no-dns", default=True, show_default=True,
              help="Also wait until the DNS names resolve.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/opt/hpc/etc"), show_default=True,
              help="Where to write hostfile and hostfile_ip.")
@click.option("--slots", type=click.IntRange(min=1), default=None,
              help="Add slots=K to every hostfile line.")
@click.option("--host-format", default=None,
              help="Name written per host; fields {pod}, {service}, {namespace} "
                   "[default: {pod}.{service}.{namespace}, or {pod} without a service].")
@click.option("-t", "--timeout", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Seconds to wait before failing.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Kubeconfig file [default: in-cluster, else ~/.kube/config].")
@click.option("--context", default=None, help="Kubeconfig context.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def main(
    count: int,
    namespace: Optional[str],
    selector: str,
    service: str,
    self_names: tuple[str, ...],
    dns: bool,
    output_dir: Path,
    slots: Optional[int],
    host_format: Optional[str],
    timeout: float,
    kubeconfig: Optional[str],
    context: Optional[str],
    quiet: bool,
) -> None:
    """Wait until COUNT compute pods are Ready and resolvable, then write the hostfiles."""
    started = time.monotonic()  # --timeout counts from here: start-up and imports too
    namespace = namespace or _default_namespace()
    if host_format is None:
        host_format = "{pod}.{service}.{namespace}" if service else "{pod}"
    try:
        host_format.format(pod="p", service="s", namespace="n")
    except (KeyError, IndexError, ValueError) as exc:
        raise click.BadParameter(f"unknown field {exc}", param_hint="--host-format") from exc
    spec = WaitSpec(
        namespace=namespace,
        selector=selector,
        count=count,
        timeout=timeout,
        service=service,
        extra_names=self_names,
        check_dns=dns,
        deadline=started + timeout,
    )
    try:
        with _hard_deadline(started + timeout + DEADLINE_GRACE - time.monotonic()):
            pods = wait_for_pods(_core_v1(kubeconfig, context), spec,
                                 progress=None if quiet else _progress)
    except _Deadline:
        click.echo(f"wait-for-pods: Kubernetes API did not answer within {timeout:g}s "
                   f"(namespace {namespace})", err=True)
        sys.exit(EXIT_API)
    except WaitTimeout as exc:
        click.echo(f"wait-for-pods: timed out in namespace {namespace}: {exc}", err=True)
        sys.exit(EXIT_TIMEOUT)
    except ApiError as exc:
        click.echo(f"wait-for-pods: {exc} (namespace {namespace})", err=True)
        sys.exit(EXIT_API)
    try:
        hostfile, hostfile_ip = write_hostfiles(
            output_dir, pods, slots, host_format, service=service, namespace=namespace
        )
    except OSError as exc:
        click.echo(f"wait-for-pods: cannot write hostfiles in {output_dir}: {exc}", err=True)
        sys.exit(EXIT_WRITE)
    if not quiet:
        _progress(f"wrote {hostfile} and {hostfile_ip} ({len(pods)} hosts)")


if __name__ == "__main__":
    main()
