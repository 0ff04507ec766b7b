"""The image family: what each image is built from, and the build/push command lines.

Names and parents follow the paper's images (`k8s-<name>`). Every Containerfile
takes IMAGE_BASE (the distribution image, UBI by default as in the paper) or,
for a child image, IMAGE_REGISTRY and IMAGE_TAG to find its parent. The build
context is the source tree, so images can install this package and the examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from kube_pmix.vcluster.errors import UnknownName

DEFAULT_BASE = "registry.access.redhat.com/ubi9/ubi:9.5"
DEFAULT_TAG = "0.1.0"
# Where `images build` tags by default (podman's local store); set IMAGE_REGISTRY
# to a registry the cluster can pull from.
DEFAULT_REGISTRY = "localhost/kube-pmix"


@dataclass(frozen=True)
class Image:
    name: str  # short name: images/<name>/Containerfile
    parent: Optional[str]  # short name of the image it is built FROM, None for IMAGE_BASE
    summary: str

    @property
    def repository(self) -> str:
        return f"k8s-{self.name}"


# Parents before children: building in this order always finds the parent.
IMAGES: dict[str, Image] = {
    i.name: i
    for i in (
        Image("waitfor", None, "wait-for-pods for the login Job's init container"),
        Image("pmix-base", None, "Open MPI, PRRTE, OpenPMIx (pinned wheel), our tools"),
        Image("runtime", "pmix-base", "PRRTE runtime node: sshd, ssh client, kubexec"),
        Image("runtime-with-podman", "runtime", "runtime with rootless podman"),
        Image("mpi", "pmix-base", "MPI application image (init_finalize), no runtime"),
        Image("mpi-with-runtime", "runtime", "MPI application and runtime in one image"),
        Image("nas", "mpi", "NAS Parallel Benchmarks"),
        Image("nas-with-runtime", "mpi-with-runtime", "NAS Parallel Benchmarks with the runtime"),
        Image("gromacs", "mpi", "GROMACS"),
        Image("gromacs-with-runtime", "mpi-with-runtime", "GROMACS with the runtime"),
    )
}


def image(name: str) -> Image:
    """Look an image up by short name (`mpi`) or repository name (`k8s-mpi`)."""
    short = name[4:] if name.startswith("k8s-") else name
    try:
        return IMAGES[short]
    except KeyError:
        raise UnknownName(f"unknown image {name!r}; known: {', '.join(IMAGES)}") from None


def reference(img: Image, registry: str, tag: str) -> str:
    """Full image reference: REGISTRY/k8s-NAME:TAG (no registry part if REGISTRY is empty)."""
    prefix = f"{registry.rstrip('/')}/" if registry else ""
    return f"{prefix}{img.repository}:{tag}"


def build_argv(
    img: Image,
    registry: str,
    tag: str,
    base: str = DEFAULT_BASE,
    build_cmd: str = "podman build",
    context: str = ".",
) -> list[str]:
    """The build command line for IMG, run from the source tree."""
    return [
        *build_cmd.split(),
        "-f", f"images/{img.name}/Containerfile",
        "-t", reference(img, registry, tag),
        "--build-arg", f"IMAGE_BASE={base}",
        "--build-arg", f"IMAGE_REGISTRY={registry.rstrip('/')}",
        "--build-arg", f"IMAGE_TAG={tag}",
        context,
    ]


def push_argv(img: Image, registry: str, tag: str, push_cmd: str = "podman push") -> list[str]:
    """The push command line for IMG."""
    return [*push_cmd.split(), reference(img, registry, tag)]


def with_parents(names: list[str]) -> list[Image]:
    """NAMES and everything they are built from, parents first, each once."""
    wanted: set[str] = set()
    for name in names:
        current: Optional[Image] = image(name)
        while current is not None and current.name not in wanted:
            wanted.add(current.name)
            current = IMAGES[current.parent] if current.parent else None
    return [img for img in IMAGES.values() if img.name in wanted]
