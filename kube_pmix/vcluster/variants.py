"""The table of virtual-cluster variants, as in the paper: transport x what the image holds.

Each variant is a kustomize overlay under manifests/overlays/<name>.
"""

from __future__ import annotations

from dataclasses import dataclass

from kube_pmix.vcluster.errors import UnknownName


@dataclass(frozen=True)
class Variant:
    name: str
    transport: str  # "ssh" (sshd in compute pods) or "kubectl" (our kubexec agent)
    image: str  # image of the login and compute pods
    podman: bool  # ranks run in their own podman containers
    fuse: bool  # /dev/fuse from the fuse device plugin (fuse-overlayfs storage)
    summary: str

    @property
    def needs_ssh_keys(self) -> bool:
        return self.transport == "ssh"


def _table() -> dict[str, Variant]:
    rows: dict[str, Variant] = {}
    for transport in ("ssh", "kubectl"):
        how = "sshd on the compute pods" if transport == "ssh" else "kubexec over the exec API"
        for suffix, image, podman, fuse, what in (
            ("", "k8s-runtime", False, False, "runtime only"),
            ("-with-mpi", "k8s-mpi-with-runtime", False, False,
             "Open MPI and runtime in one image"),
            ("-with-podman", "k8s-runtime-with-podman", True, False,
             "ranks in podman containers, vfs storage"),
            ("-with-podman-unpriv", "k8s-runtime-with-podman", True, True,
             "ranks in podman containers, fuse-overlayfs via the fuse device plugin"),
        ):
            name = transport + suffix
            rows[name] = Variant(name, transport, image, podman, fuse, f"{what}; {how}")
    return rows


VARIANTS: dict[str, Variant] = _table()


def variant(name: str) -> Variant:
    """Look a variant up by name."""
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(VARIANTS)
        raise UnknownName(f"unknown variant {name!r}; known: {known}") from None
