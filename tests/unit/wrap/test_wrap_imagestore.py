"""The quick look into podman's image index, and where the index is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wrap import imagestore

STORED = ["localhost/kube-pmix-mpi:latest", "docker.io/library/busybox:1.36",
          "quay.io/me/k8s-mpi:latest", "registry.local:5000/team/app:v2"]
IDS = ["589a00ee9f09b05921e9c9e4d560f5f535d145a881807eea8d9166021a5b640e"]


@pytest.mark.parametrize(
    ("ref", "known"),
    [
        ("kube-pmix-mpi", True),
        ("kube-pmix-mpi:latest", True),
        ("localhost/kube-pmix-mpi", True),
        ("kube-pmix-mpi:other", False),
        ("busybox:1.36", True),
        ("busybox", False),
        ("quay.io/me/k8s-mpi", True),
        ("me/k8s-mpi", True),
        ("quay.io/other/k8s-mpi", False),
        ("registry.local:5000/team/app:v2", True),
        ("registry.local:5000/team/app", False),
        ("589a00ee9f09", True),
        ("sha256:589a00ee9f09b05921e9", True),
        ("589a00ee9f00", False),
        ("quay.io/me/k8s-mpi@sha256:" + "0" * 64, False),
    ],
)
def test_matches(ref, known):
    assert imagestore.matches(ref, STORED, IDS) is known


def write_index(root: Path) -> None:
    index = root / "overlay-images" / "images.json"
    index.parent.mkdir(parents=True)
    index.write_text(json.dumps([{"id": IDS[0], "names": STORED[:1]}, {"id": "x"}]))


def test_default_rootless_store_is_read(tmp_path):
    env = {"HOME": str(tmp_path)}
    write_index(tmp_path / ".local" / "share" / "containers" / "storage")
    assert imagestore.known_locally("kube-pmix-mpi", env, uid=1000) is True
    # "cannot tell" rather than "no": podman itself confirms a miss
    assert imagestore.known_locally("other", env, uid=1000) is None


def test_storage_conf_graphroot_is_honoured(tmp_path):
    conf = tmp_path / "cfg" / "containers" / "storage.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('[storage]\ndriver = "overlay"\ngraphroot = "$HOME/elsewhere"\n')
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert imagestore.storage_root(env, uid=1000) == str(tmp_path / "elsewhere")
    write_index(tmp_path / "elsewhere")
    assert imagestore.known_locally("localhost/kube-pmix-mpi:latest", env, uid=1000) is True


def test_root_and_xdg_data_defaults(tmp_path):
    assert imagestore.storage_root({"CONTAINERS_STORAGE_CONF": str(tmp_path / "none")}, 0) == (
        "/var/lib/containers/storage"
    )
    env = {"HOME": "/h", "XDG_DATA_HOME": "/d", "XDG_CONFIG_HOME": str(tmp_path)}
    assert imagestore.storage_root(env, 1000) == "/d/containers/storage"


def test_unreadable_index_means_cannot_tell(tmp_path):
    index = tmp_path / "s" / "vfs-images" / "images.json"
    index.parent.mkdir(parents=True)
    index.write_text("{not json")
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "x")}
    conf = tmp_path / ".config" / "containers" / "storage.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f'rootless_storage_path = "{tmp_path / "s"}"\n')
    assert imagestore.known_locally("anything", env, uid=1000) is None
