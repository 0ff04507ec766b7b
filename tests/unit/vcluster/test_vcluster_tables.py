"""The variant and image tables, and the image command lines (pure, by equality)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube_pmix.vcluster import images as ki
from kube_pmix.vcluster.errors import UnknownName
from kube_pmix.vcluster.paths import images_dir, manifests_dir
from kube_pmix.vcluster.variants import VARIANTS, variant

PAPER_VARIANTS = {
    "ssh", "ssh-with-mpi", "ssh-with-podman", "ssh-with-podman-unpriv",
    "kubectl", "kubectl-with-mpi", "kubectl-with-podman", "kubectl-with-podman-unpriv",
}


def test_every_paper_variant_has_an_overlay() -> None:
    assert set(VARIANTS) == PAPER_VARIANTS
    on_disk = {p.name for p in (manifests_dir() / "overlays").iterdir() if p.is_dir()}
    assert on_disk == PAPER_VARIANTS


def test_variant_lookup_and_unknown_name() -> None:
    assert variant("ssh-with-podman-unpriv").fuse
    assert variant("kubectl").transport == "kubectl"
    with pytest.raises(UnknownName, match="unknown variant 'mpi'"):
        variant("mpi")


def test_every_image_has_a_containerfile_and_nothing_else_does() -> None:
    on_disk = {p.parent.name for p in images_dir().glob("*/Containerfile")}
    assert on_disk == set(ki.IMAGES)


def test_containerfiles_build_from_their_table_parent() -> None:
    for img in ki.IMAGES.values():
        text = (images_dir() / img.name / "Containerfile").read_text()
        froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
        stage = f"${{IMAGE_REGISTRY}}/k8s-{img.stage}:${{IMAGE_TAG}}" if img.stage else None
        if img.parent is None:  # build stages (pmix-base compiles the guard) use it too
            assert froms and froms[-1] == "${IMAGE_BASE}", img.name
            assert set(froms) <= {"${IMAGE_BASE}", stage}, img.name
        else:
            parent = f"${{IMAGE_REGISTRY}}/k8s-{img.parent}:${{IMAGE_TAG}}"
            assert froms[-1] == parent, img.name


def test_build_argv() -> None:
    img = ki.image("k8s-mpi")
    assert ki.build_argv(img, "quay.io/me/", "v1", "ubi:9", "docker build", "src") == [
        "docker", "build", "-f", "images/mpi/Containerfile", "-t", "quay.io/me/k8s-mpi:v1",
        "--build-arg", "IMAGE_BASE=ubi:9", "--build-arg", "IMAGE_REGISTRY=quay.io/me",
        "--build-arg", "IMAGE_TAG=v1", "src",
    ]


def test_the_rank_image_is_one_layer_where_the_engine_can() -> None:
    mpi = ki.image("mpi")
    assert ki.build_argv(mpi, "r", "t", build_cmd="podman build")[:3] == [
        "podman", "build", "--squash-all"]
    assert "--squash-all" not in ki.build_argv(mpi, "r", "t", build_cmd="docker build")
    assert "--squash-all" not in ki.build_argv(ki.image("runtime"), "r", "t")
    assert [i.name for i in ki.IMAGES.values() if i.squash] == ["mpi"]


def test_push_argv_and_reference_without_registry() -> None:
    assert ki.push_argv(ki.image("nas"), "r", "t") == ["podman", "push", "r/k8s-nas:t"]
    assert ki.reference(ki.image("nas"), "", "t") == "k8s-nas:t"


def test_with_parents_orders_parents_first() -> None:
    names = [i.name for i in ki.with_parents(["gromacs-with-runtime", "waitfor"])]
    # gromacs-with-runtime copies GROMACS out of k8s-gromacs: that chain comes too
    assert names == ["waitfor", "pmix-base", "runtime", "mpi", "mpi-with-runtime", "gromacs",
                     "gromacs-with-runtime"]
    # The table itself lists every parent (and copy source) before its children.
    seen: set[str] = set()
    for img in ki.IMAGES.values():
        assert set(img.sources()) <= seen, img.name
        seen.add(img.name)


def test_with_runtime_variants_copy_from_their_application_image() -> None:
    for img in ki.IMAGES.values():
        if img.name.endswith("-with-runtime"):
            text = (images_dir() / img.name / "Containerfile").read_text()
            assert f"/k8s-{img.copies_from}:${{IMAGE_TAG}} AS app" in text, img.name


def test_build_args_reach_every_build() -> None:
    argv = ki.build_argv(ki.image("nas"), "r", "t", "b", context="src",
                         build_args=["NPB_SHA256=abc", "X=1"])
    assert argv[-5:] == ["--build-arg", "NPB_SHA256=abc", "--build-arg", "X=1", "src"]


def test_missing_args_follow_the_chain() -> None:
    nas, nas_rt = ki.image("nas"), ki.image("nas-with-runtime")
    assert ki.missing_args(nas, []) == ["NPB_URL", "NPB_SHA256"]
    assert ki.missing_args(nas_rt, ["NPB_URL=u"]) == ["NPB_SHA256"]
    assert ki.missing_args(nas_rt, ["NPB_URL=u", "NPB_SHA256="]) == ["NPB_SHA256"]
    assert ki.missing_args(nas_rt, ["NPB_URL=u", "NPB_SHA256=s"]) == []
    assert ki.missing_args(ki.image("mpi"), []) == []


def test_size_table() -> None:
    table = ki.size_table([("r/k8s-mpi:t", 914_000_000), ("r/k8s-waitfor:t", 2_400_000)])
    assert table.splitlines() == [
        "| image | size |", "|---|---:|", "| `r/k8s-mpi:t` | 914 MB |",
        "| `r/k8s-waitfor:t` | 2 MB |",
    ]
    assert ki.inspect_size_argv("x", "docker build") == [
        "docker", "image", "inspect", "--format", "{{.Size}}", "x"]


def test_unknown_image() -> None:
    with pytest.raises(UnknownName, match="unknown image"):
        ki.image("k8s-nope")


def test_no_machine_paths_in_shipped_files() -> None:
    root = manifests_dir().parent
    files = [*root.joinpath("manifests").rglob("*.yaml"), *images_dir().rglob("*"),
             *root.joinpath("kube_pmix", "vcluster").glob("*.py"), root / "mk" / "cluster.mk"]
    for path in files:
        if Path(path).is_file():
            text = Path(path).read_text()
            for bad in ("/work/", "/root/"):
                assert bad not in text, f"{path} names a path of this machine"
