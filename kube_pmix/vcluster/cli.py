"""Thin click commands for the virtual cluster; registered in the umbrella `kube-pmix`.

Every command maps our errors to one line on stderr and a distinct exit status:
3 unknown variant/image, 4 render failed, 5 an external command (kubectl,
podman) failed, 6 no Ready login pod (the reason is named), 7 the cluster's
Kubernetes is too old; 2 is click's usage error. Parameters also come from the
environment variables of the paper's Makefile (NAMESPACE, IMAGE_REGISTRY, ...);
registry and tag, when not given, from what the last image build recorded.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import click

from kube_pmix.vcluster import deploy as kd
from kube_pmix.vcluster import images as ki
from kube_pmix.vcluster import record as kr
from kube_pmix.vcluster.errors import (
    CommandError,
    LoginError,
    RenderError,
    UnknownName,
    VClusterError,
    VersionError,
)
from kube_pmix.vcluster.podspec import CA_CONFIGMAP, SPREADS, SUBIDS_CONFIGMAP
from kube_pmix.vcluster.render import RenderParams, render, to_yaml
from kube_pmix.vcluster.variants import VARIANTS, variant

EXIT_UNKNOWN = 3
EXIT_RENDER = 4
EXIT_COMMAND = 5
EXIT_LOGIN = 6
EXIT_VERSION = 7

F = TypeVar("F", bound=Callable[..., Any])


def _errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnknownName as exc:
            status = EXIT_UNKNOWN
            message = str(exc)
        except RenderError as exc:
            status, message = EXIT_RENDER, f"render failed: {exc}"
        except CommandError as exc:
            status, message = EXIT_COMMAND, str(exc)
        except LoginError as exc:
            status, message = EXIT_LOGIN, str(exc)
        except VersionError as exc:
            status, message = EXIT_VERSION, str(exc)
        except VClusterError as exc:  # pragma: no cover - every subclass is handled above
            status, message = EXIT_RENDER, str(exc)
        click.echo(f"kube-pmix: {message}", err=True)
        sys.exit(status)

    return wrapper  # type: ignore[return-value]


def _run(argv: list[str], stdin_text: Optional[str] = None) -> None:
    """Run a kubectl/podman command, showing its warnings (stderr) as it would."""
    done = kd.run(argv, stdin_text)
    if done.stderr:
        click.echo(done.stderr, err=True, nl=False)


_VARIANT = click.argument("variant_name", metavar="VARIANT")
_NAMESPACE = click.option("--namespace", envvar="NAMESPACE", default="kube-pmix",
                          show_default=True, help="Namespace of the cluster [env NAMESPACE].")
_KUBECTL = click.option("--kubectl", envvar="KUBECTL", default="kubectl", show_default=True,
                        help="kubectl command [env KUBECTL].")
_CONTEXT = click.option("--context", default=None, help="kubeconfig context.")


def _render_options(fn: F) -> F:
    for option in reversed((
        _NAMESPACE,
        click.option("--replicas", envvar="REPLICAS", type=click.IntRange(min=1), default=2,
                     show_default=True, help="Compute pods [env REPLICAS]."),
        click.option("--registry", envvar="IMAGE_REGISTRY", default=None,
                     help="Image registry/prefix [env IMAGE_REGISTRY; default: the last "
                          f"build's, else {ki.DEFAULT_REGISTRY}]."),
        click.option("--tag", envvar="IMAGE_TAG_NAME", default=None,
                     help="Image tag [env IMAGE_TAG_NAME; default: the last build's, else "
                          f"{ki.DEFAULT_TAG}]."),
        click.option("--slots", type=click.IntRange(min=1), default=None,
                     help="slots=K on every hostfile line."),
        click.option("--wait-timeout", type=click.IntRange(min=1), default=600,
                     show_default=True, help="Seconds the login's waiter waits for the pods."),
        click.option("--pull-policy", envvar="IMAGE_PULL_POLICY", default="IfNotPresent",
                     type=click.Choice(["IfNotPresent", "Always", "Never"]), show_default=True,
                     help="imagePullPolicy of every container [env IMAGE_PULL_POLICY]."),
        click.option("--pull-secret", envvar="IMAGE_PULL_SECRET", default=None,
                     help="A kubernetes.io/dockerconfigjson Secret: the pods' imagePullSecrets, "
                          "and podman's credentials in the podman variants "
                          "[env IMAGE_PULL_SECRET]."),
        click.option("--spread", type=click.Choice(SPREADS), default="none", show_default=True,
                     help="Spread the compute pods over nodes: soft prefers, hard requires."),
        click.option("--cluster-domain", default="cluster.local", show_default=True,
                     help="The cluster's DNS domain (for the service's search domain)."),
        click.option("--create-namespace/--existing-namespace", "create_namespace",
                     default=True, show_default=True,
                     help="Create the namespace (and its Pod Security labels), or deploy into "
                          "one that exists, as a tenant with rights in it only."),
        click.option("--deadline", type=click.IntRange(min=1), default=None,
                     help="Seconds the virtual cluster may live (the login Job's "
                          "activeDeadlineSeconds); then its pods are ended."),
        click.option("--registry-ca", "registry_ca", envvar="IMAGE_REGISTRY_CA",
                     type=click.File("r"), default=None,
                     help="PEM CA of a registry with a private CA: podman in the podman "
                          "variants trusts it for MPI_IMAGE [env IMAGE_REGISTRY_CA]."),
        click.option("--pod-user-namespace", is_flag=True, default=False,
                     help="Run the pods in user namespaces of their own (hostUsers: false; "
                          "needs the feature on the nodes); podman pods get subordinate ids "
                          "that exist there."),
        click.option("--ttl", type=click.IntRange(min=0), default=None,
                     help="Seconds a finished login Job is kept; its deletion deletes the "
                          "compute pods too (they belong to it)."),
        click.option("--suspend", is_flag=True, default=False,
                     help="Create the cluster suspended: nothing runs until a queue (or "
                          "`kubectl patch job hpc-cluster-login`) resumes the login Job, "
                          "whose pod then starts the compute pods."),
    )):
        fn = option(fn)
    return fn


def _params(variant_name: str, namespace: str, replicas: int, registry: Optional[str],
            tag: Optional[str], slots: Optional[int], wait_timeout: int, **rest: Any
            ) -> RenderParams:
    variant(variant_name)
    last = kr.load()
    registry = kr.choose(registry, last.registry if last else None, ki.DEFAULT_REGISTRY)
    tag = kr.choose(tag, last.tag if last else None, ki.DEFAULT_TAG)
    ca = rest.pop("registry_ca", None)
    if ca is not None:
        rest["registry_ca"] = ca.read()
    return RenderParams(variant_name, namespace, replicas, registry, tag, slots, wait_timeout,
                        **rest)

@click.command("render")
@_VARIANT
@_render_options
@_KUBECTL
@_errors
def render_cmd(variant_name: str, kubectl: str, **opts: Any) -> None:
    """Print the manifests of VARIANT with the parameters applied (no ssh keys)."""
    click.echo(to_yaml(render(_params(variant_name, **opts), kubectl)), nl=False)


@click.command("deploy")
@_VARIANT
@_render_options
@_KUBECTL
@_CONTEXT
@click.option("--wait/--no-wait", default=False, help="Wait until the login pod is Ready.")
@_errors
def deploy_cmd(variant_name: str, kubectl: str, context: Optional[str], wait: bool,
               **opts: Any) -> None:
    """Create (or update) the virtual cluster of VARIANT."""
    from kube_pmix.vcluster import version
    from kube_pmix.vcluster.sshkeys import ssh_secret

    params = _params(variant_name, **opts)
    version.check(version.server_version(
        kd.run(kd.version_argv(kubectl, context), capture=True).stdout))
    objects = render(params, kubectl)
    ns = params.namespace
    # The Namespace first: the Secret below needs it.
    namespace_objects = [o for o in objects if o.get("kind") == "Namespace"]
    if namespace_objects:
        _run(kd.apply_argv(ns, kubectl, context), to_yaml(namespace_objects))
    # Keep the keys of a running cluster: its sshd already loaded them.
    if variant(variant_name).needs_ssh_keys and not kd.run(
        kd.secret_exists_argv(ns, kubectl, context), capture=True
    ).stdout.strip():
        _run(kd.apply_argv(ns, kubectl, context), to_yaml([ssh_secret(ns)]))
    _run(kd.apply_argv(ns, kubectl, context), to_yaml(objects))
    if params.deadline or params.ttl is not None:
        uid = kd.run(kd.get_json_argv(ns, ["job", kd.paths.LOGIN_JOB], kubectl, context),
                     capture=True).stdout
        _run(kd.owner_patch_argv(ns, "statefulset", kd.paths.STATEFULSET,
                                 json.loads(uid)["metadata"]["uid"], kubectl, context))
    if wait:
        _wait_login(ns, params.wait_timeout, kubectl, context)


def _wait_login(namespace: str, timeout: int, kubectl: str, context: Optional[str]) -> str:
    from kube_pmix.vcluster.loginwait import wait_login

    def get(what: list[str]) -> str:
        try:
            return kd.run(kd.get_json_argv(namespace, what, kubectl, context),
                          capture=True).stdout
        except CommandError as exc:
            raise LoginError(str(exc)) from None

    return wait_login(get, namespace, timeout,
                      lambda line: click.echo(f"kube-pmix: waiting: {line}", err=True))


@click.command("login")
@_VARIANT
@click.argument("command", nargs=-1)
@_NAMESPACE
@_KUBECTL
@_CONTEXT
@click.option("--timeout", type=click.IntRange(min=1), default=600, show_default=True,
              help="Seconds to wait for the login pod.")
@_errors
def login_cmd(variant_name: str, command: tuple[str, ...], namespace: str, kubectl: str,
              context: Optional[str], timeout: int) -> None:
    """Wait for the login pod of VARIANT, then open a shell in it (or run COMMAND in a
    login shell: `kube-pmix login VARIANT -- prterun ...`). While waiting, says why
    the pod is not there yet; stops at once when waiting cannot help."""
    variant(variant_name)
    pod = _wait_login(namespace, timeout, kubectl, context)
    argv = kd.login_argv(namespace, pod, kubectl, context, list(command),
                         tty=not command and sys.stdin.isatty())
    sys.exit(kd.interactive(argv))


@click.command("undeploy")
@_VARIANT
@_render_options
@_KUBECTL
@_CONTEXT
@_errors
def undeploy_cmd(variant_name: str, kubectl: str, context: Optional[str], **opts: Any) -> None:
    """Delete the virtual cluster of VARIANT and its ssh keys.

    The namespace is kept: it may hold other things (`kubectl delete namespace` removes it).
    """
    params = _params(variant_name, **opts)
    objects = render(params, kubectl)
    namespaced = [o for o in objects if o.get("kind") != "Namespace"]
    _run(kd.delete_argv(params.namespace, kubectl, context), to_yaml(namespaced))
    _run(kd.delete_secret_argv(params.namespace, kubectl, context))
    # made by deploy --registry-ca or --pod-user-namespace, which undeploy need not be given
    for configmap in (CA_CONFIGMAP, SUBIDS_CONFIGMAP):
        _run(kd.delete_named_argv(params.namespace, "configmap", configmap, kubectl, context))


@click.command("waitfor-log")
@_NAMESPACE
@_KUBECTL
@_CONTEXT
@_errors
def waitfor_log_cmd(namespace: str, kubectl: str, context: Optional[str]) -> None:
    """Show the log of the login Job's job-waiter init container."""
    _run(kd.waitfor_log_argv(namespace, kubectl, context))


@click.group("images")
def images_cmd() -> None:
    """Build and push the container images (podman or docker)."""


_IMG_OPTS = (
    click.option("--registry", envvar="IMAGE_REGISTRY", default=None,
                 help="Registry/prefix the images are named for [env IMAGE_REGISTRY; "
                      f"default: build {ki.DEFAULT_REGISTRY}, push the last build's]."),
    click.option("--tag", envvar="IMAGE_TAG_NAME", default=None,
                 help=f"[env IMAGE_TAG_NAME; default: build {ki.DEFAULT_TAG}, push the last "
                      "build's]"),
)


def _img_opts(fn: F) -> F:
    for option in reversed(_IMG_OPTS):
        fn = option(fn)
    return fn


@images_cmd.command("list")
def images_list() -> None:
    """List the images, parents first."""
    for img in ki.IMAGES.values():
        click.echo(f"{img.name:22} {img.summary}")


@images_cmd.command("build")
@click.argument("names", nargs=-1)
@_img_opts
@click.option("--base", envvar="IMAGE_BASE", default=ki.DEFAULT_BASE, show_default=True,
              help="Distribution base image [env IMAGE_BASE].")
@click.option("--build-cmd", envvar="IMAGE_BUILD_CMD", default="podman build",
              show_default=True, help="[env IMAGE_BUILD_CMD]")
@click.option("--build-arg", "build_args", multiple=True, metavar="KEY=VALUE",
              envvar="IMAGE_BUILD_ARGS",
              help="Passed to every build, e.g. NPB_URL=... NPB_SHA256=... "
                   "[env IMAGE_BUILD_ARGS, space-separated].")
@click.option("--parents/--no-parents", default=True, show_default=True,
              help="Also build the images NAMES are built from.")
@click.option("--sizes", "sizes_file", type=click.Path(dir_okay=False), default=None,
              help="Write a markdown table of the built images' sizes to this file.")
@click.option("--dry-run", is_flag=True, help="Print the commands only.")
@_errors
def images_build(names: tuple[str, ...], registry: Optional[str], tag: Optional[str],
                 base: str, build_cmd: str, build_args: tuple[str, ...], parents: bool,
                 sizes_file: Optional[str], dry_run: bool) -> None:
    """Build NAMES (all images if none), from the source tree, sources first.

    Building the whole family skips, with a notice, the images whose sources no
    registry serves (NAS: give NPB_URL and NPB_SHA256); naming one builds it
    and its Containerfile says what is missing.
    """
    from kube_pmix.vcluster.paths import repo_root

    registry = registry or ki.DEFAULT_REGISTRY
    tag = tag or ki.DEFAULT_TAG
    for arg in build_args:
        if "=" not in arg:
            raise click.BadParameter(f"{arg!r} is not KEY=VALUE", param_hint="--build-arg")
    chosen = ki.with_parents(list(names)) if parents and names else (
        [ki.image(n) for n in names] or list(ki.IMAGES.values()))
    built: list[str] = []
    for img in chosen:
        missing = ki.missing_args(img, build_args)
        if missing and not names:
            click.echo(f"skipping {img.repository}: needs --build-arg "
                       f"{' '.join(m + '=...' for m in missing)}", err=True)
            continue
        argv = ki.build_argv(img, registry, tag, base, build_cmd, str(repo_root()), build_args)
        click.echo(" ".join(argv), err=True)
        if not dry_run:
            kd.run(argv, stream_stderr=True)
            built.append(ki.reference(img, registry, tag))
            # after each image: a later failure leaves the record of what was made
            try:
                kr.save(kr.Record(registry, tag, [img.name]), kr.load())
            except OSError as exc:
                click.echo(f"kube-pmix: cannot record the build in {kr.path()}: "
                           f"{exc.strerror}", err=True)
    if sizes_file and built:
        sizes = [(ref, int(kd.run(ki.inspect_size_argv(ref, build_cmd), capture=True)
                           .stdout.strip() or 0)) for ref in built]
        table = ki.size_table(sizes)
        Path(sizes_file).parent.mkdir(parents=True, exist_ok=True)
        Path(sizes_file).write_text(table)
        click.echo(table, nl=False)


@images_cmd.command("push")
@click.argument("names", nargs=-1)
@_img_opts
@click.option("--push-registry", envvar="IMAGE_PUSH_REGISTRY", default=None,
              help="Push to this registry/prefix instead of the one the images are named "
                   "for (a registry reached here through a relay or port-forward) "
                   "[env IMAGE_PUSH_REGISTRY].")
@click.option("--push-cmd", envvar="IMAGE_PUSH_CMD", default="podman push", show_default=True,
              help="[env IMAGE_PUSH_CMD]")
@click.option("--dry-run", is_flag=True, help="Print the commands only.")
@_errors
def images_push(names: tuple[str, ...], registry: Optional[str], tag: Optional[str],
                push_registry: Optional[str], push_cmd: str, dry_run: bool) -> None:
    """Push NAMES (default: what the last build made, under its registry and tag)."""
    last = kr.load()
    registry = kr.choose(registry, last.registry if last else None, ki.DEFAULT_REGISTRY)
    tag = kr.choose(tag, last.tag if last else None, ki.DEFAULT_TAG)
    if names:
        chosen = [ki.image(n) for n in names]
    elif last and (last.registry, last.tag) == (registry, tag):
        chosen = [ki.image(n) for n in last.built]
    else:
        chosen = [img for img in ki.IMAGES.values() if not ki.missing_args(img, [])]
        click.echo(f"kube-pmix: no build of {registry} tag {tag} recorded: pushing every "
                   "image but those that need sources (NAS)", err=True)
    for img in chosen:
        argv = ki.push_argv(img, registry, tag, push_cmd, push_registry)
        click.echo(" ".join(argv), err=True)
        if not dry_run:
            kd.run(argv, stream_stderr=True)


@click.command("variants")
def variants_cmd() -> None:
    """List the virtual-cluster variants."""
    for v in VARIANTS.values():
        click.echo(f"{v.name:28} {v.summary}")


@click.group("fuse-plugin")
def fuse_plugin_cmd() -> None:
    """Our fuse device plugin: /dev/fuse on every node, for the -unpriv variants."""


def _plugin_objects(registry: Optional[str], tag: Optional[str],
                    kubectl: str) -> list[dict[str, Any]]:
    from kube_pmix.vcluster import fuseplugin

    last = kr.load()
    registry = kr.choose(registry, last.registry if last else None, ki.DEFAULT_REGISTRY)
    tag = kr.choose(tag, last.tag if last else None, ki.DEFAULT_TAG)
    return fuseplugin.render(registry, tag, kubectl)


@fuse_plugin_cmd.command("deploy")
@_img_opts
@_KUBECTL
@_CONTEXT
@_errors
def fuse_plugin_deploy(registry: Optional[str], tag: Optional[str], kubectl: str,
                       context: Optional[str]) -> None:
    """Run the plugin as a DaemonSet (namespace kube-pmix-system), from runtime-with-podman."""
    from kube_pmix.vcluster.fuseplugin import DAEMONSET, NAMESPACE

    _run(kd.apply_argv(NAMESPACE, kubectl, context),
         to_yaml(_plugin_objects(registry, tag, kubectl)))
    _run(kd.rollout_argv(NAMESPACE, f"daemonset/{DAEMONSET}", 300, kubectl, context))
    # running is not yet offered: the kubelet shows a registered plugin's resource moments later
    from kube_pmix.vcluster.fuseplugin import RESOURCE
    from kube_pmix.vcluster.loginwait import offered

    for _ in range(60):
        nodes = json.loads(kd.run(kd.get_json_argv(NAMESPACE, ["nodes"], kubectl, context),
                                  capture=True).stdout)["items"]
        if offered(nodes, RESOURCE):
            return
        time.sleep(1)
    raise CommandError(["kube-pmix", "fuse-plugin", "deploy"], 1,
                       f"the plugin runs but no node offers {RESOURCE} after 60 s "
                       f"(kubectl -n {NAMESPACE} logs daemonset/{DAEMONSET})")


@fuse_plugin_cmd.command("undeploy")
@_img_opts
@_KUBECTL
@_CONTEXT
@_errors
def fuse_plugin_undeploy(registry: Optional[str], tag: Optional[str], kubectl: str,
                         context: Optional[str]) -> None:
    """Remove the plugin and its namespace."""
    from kube_pmix.vcluster.fuseplugin import NAMESPACE

    _run(kd.delete_argv(NAMESPACE, kubectl, context),
         to_yaml(_plugin_objects(registry, tag, kubectl)))
