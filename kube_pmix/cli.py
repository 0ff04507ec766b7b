"""`kube-pmix`: the umbrella command line.

Each group lives in its own module and is imported only when it is asked for,
so `kube-pmix --help` stays fast and one broken group cannot break the others.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, one-line help)
_GROUPS: dict[str, tuple[str, str, str]] = {
    "local": ("kube_pmix.local.cli", "local", "Run a local cluster (pods are Linux namespaces)."),
    "k8s": ("kube_pmix.k8s.cli", "k8s", "Run a real Kubernetes test bed (built by make k8s)."),
    "demo": ("kube_pmix.demo", "demo", "Run the paper's demo on a fresh local cluster."),
    "render": ("kube_pmix.vcluster.cli", "render_cmd", "Print a virtual cluster's manifests."),
    "deploy": ("kube_pmix.vcluster.cli", "deploy_cmd", "Deploy a virtual cluster variant."),
    "login": ("kube_pmix.vcluster.cli", "login_cmd", "Shell in a virtual cluster's login pod."),
    "undeploy": ("kube_pmix.vcluster.cli", "undeploy_cmd", "Remove a virtual cluster."),
    "images": ("kube_pmix.vcluster.cli", "images_cmd", "Build and push the container images."),
    "variants": ("kube_pmix.vcluster.cli", "variants_cmd", "List the virtual cluster variants."),
    "waitfor-log": ("kube_pmix.vcluster.cli", "waitfor_log_cmd", "Show the login waiter's log."),
    "fuse-plugin": ("kube_pmix.vcluster.cli", "fuse_plugin_cmd",
                    "Deploy or remove the fuse device plugin."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_GROUPS)

    def get_command(self, ctx: click.Context, name: str) -> Any:
        if name not in _GROUPS:
            return None
        module, attr, _ = _GROUPS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _GROUPS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="kube-pmix")
def main() -> None:
    """Tools for PMIx-enabled MPI jobs (Open MPI 5: PRRTE + OpenPMIx) in Kubernetes."""
