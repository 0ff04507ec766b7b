"""The image family: what each image is built from, and the build/push command lines.

Names and parents follow the paper's images (`k8s-<name>`). Every Containerfile
takes IMAGE_BASE (the distribution image: Debian 12 by default) or,
for a child image, IMAGE_REGISTRY and IMAGE_TAG to find its parent. The build
context is the source tree, so images can install this package and the examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from kube_pmix.vcluster.errors import UnknownName

# Debian 12, the release the project is tested on; `make base-image` makes it
# locally under this name where no image registry is reachable.
DEFAULT_BASE = "docker.io/library/debian:bookworm"
DEFAULT_TAG = "0.1.0"
# Where `images build` tags by default (podman's local store); set IMAGE_REGISTRY
# to a registry the cluster can pull from.
DEFAULT_REGISTRY = "localhost/kube-pmix"


@dataclass(frozen=True)
class Image:
    name: str  # short name: images/<name>/Containerfile
    parent: Optional[str]  # short name of the image it is built FROM, None for IMAGE_BASE
    summary: str
    # Build arguments without which the image cannot be built (sources no
    # registry here serves): building the whole family skips it when unset.
    requires: tuple[str, ...] = ()
    # The image a `-with-runtime` variant copies its application from.
    copies_from: Optional[str] = None
    # An image a build stage starts from for its tools (k8s-mpi compiles its example in
    # k8s-pmix-base), while the image itself starts from IMAGE_BASE.
    stage: Optional[str] = None
    # One layer (podman's --squash-all): the ranks' image, which every compute pod of a
    # podman variant pulls into its own store, where vfs keeps each layer as a full copy.
    squash: bool = False

    def sources(self) -> list[str]:
        """Short names of the images this one is built from: parent, copy source, stage."""
        return [name for name in (self.parent, self.copies_from, self.stage) if name]

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
        Image("mpi", None, "MPI application image: Open MPI and init_finalize, nothing else",
              stage="pmix-base", squash=True),
        Image("mpi-with-runtime", "runtime", "MPI application and runtime in one image",
              copies_from="mpi"),
        Image("nas", "mpi", "NAS Parallel Benchmarks", requires=("NPB_URL", "NPB_SHA256")),
        Image("nas-with-runtime", "mpi-with-runtime", "NAS Parallel Benchmarks with the runtime",
              copies_from="nas"),
        Image("gromacs", "mpi", "GROMACS"),
        Image("gromacs-with-runtime", "mpi-with-runtime", "GROMACS with the runtime",
              copies_from="gromacs"),
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
    build_args: Sequence[str] = (),
) -> list[str]:
    """The build command line for IMG, run from the source tree.

    BUILD_ARGS (`KEY=VALUE`) are passed to every image; an image ignores those
    its Containerfile does not declare.
    """
    extra = [word for arg in build_args for word in ("--build-arg", arg)]
    # docker's --squash needs an experimental daemon: its images keep their layers
    squash = ["--squash-all"] if img.squash and build_cmd.split()[0].endswith(
        ("podman", "buildah")) else []
    return [
        *build_cmd.split(),
        *squash,
        "-f", f"images/{img.name}/Containerfile",
        "-t", reference(img, registry, tag),
        "--build-arg", f"IMAGE_BASE={base}",
        "--build-arg", f"IMAGE_REGISTRY={registry.rstrip('/')}",
        "--build-arg", f"IMAGE_TAG={tag}",
        *extra,
        context,
    ]


def missing_args(img: Image, build_args: Sequence[str]) -> list[str]:
    """The build arguments IMG or one of its parents requires that BUILD_ARGS leaves unset."""
    given = {arg.split("=", 1)[0] for arg in build_args if arg.split("=", 1)[1:] != [""]}
    missing: list[str] = []
    for each in with_parents([img.name]):
        missing += [name for name in each.requires if name not in given and name not in missing]
    return missing


def size_table(sizes: Sequence[tuple[str, int]]) -> str:
    """A markdown table of image references and sizes (bytes, shown in MB)."""
    lines = ["| image | size |", "|---|---:|"]
    lines += [f"| `{ref}` | {size / 1e6:.0f} MB |" for ref, size in sizes]
    return "\n".join(lines) + "\n"

def inspect_size_argv(ref: str, build_cmd: str = "podman build") -> list[str]:
    """The command that prints the size in bytes of image REF (podman's or docker's)."""
    engine = build_cmd.split()[0]
    return [engine, "image", "inspect", "--format", "{{.Size}}", ref]


def push_argv(img: Image, registry: str, tag: str, push_cmd: str = "podman push",
              push_registry: Optional[str] = None) -> list[str]:
    """The push command line for IMG; to PUSH_REGISTRY when the registry is reached here
    under another address than the one the images are named for (and pods pull)."""
    name = reference(img, registry, tag)
    if push_registry and push_registry.rstrip("/") != registry.rstrip("/"):
        return [*push_cmd.split(), name, reference(img, push_registry, tag)]
    return [*push_cmd.split(), name]


def with_parents(names: list[str]) -> list[Image]:
    """NAMES and everything they are built or copied from, in table order (sources first)."""
    wanted: set[str] = set()
    todo = [image(name) for name in names]
    while todo:
        current = todo.pop()
        if current.name not in wanted:
            wanted.add(current.name)
            todo += [IMAGES[source] for source in current.sources()]
    return [img for img in IMAGES.values() if img.name in wanted]
