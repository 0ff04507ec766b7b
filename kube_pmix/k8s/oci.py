"""A one-layer OCI image archive made from files of this machine, for `ctr images import`.

The node's sandbox (pause) and CoreDNS images hold a single static binary each.
Writing the archive here means no public image is pulled and no container
engine is needed to make them: a layer tar, a config, a manifest and an index,
all content-addressed. Deterministic: the same files give the same digests.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class ImageFile:
    """A file of the image: where it goes, where it comes from, its mode."""

    path: str
    source: Path
    mode: int = 0o755


def _tar_member(tar: tarfile.TarFile, path: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def layer_tar(files: Sequence[ImageFile]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in sorted(files, key=lambda f: f.path):
            _tar_member(tar, item.path, item.source.read_bytes(), item.mode)
    return buf.getvalue()


def _descriptor(media_type: str, blob: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
            "size": len(blob)}


def image_archive(name: str, files: Sequence[ImageFile], entrypoint: Sequence[str],
                  user: str = "") -> bytes:
    """The whole OCI archive (a tar) of image `name` (`repo:tag`)."""
    layer = layer_tar(files)
    layer_desc = _descriptor(LAYER_TYPE, layer)
    config = json.dumps({
        "architecture": _ARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "User": user, "Env": []},
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    }, sort_keys=True).encode()
    config_desc = _descriptor(CONFIG_TYPE, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                           "config": config_desc, "layers": [layer_desc]},
                          sort_keys=True).encode()
    manifest_desc = _descriptor(MANIFEST_TYPE, manifest)
    manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
    index = json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}, sort_keys=True)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_member(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}', 0o644)
        _tar_member(tar, "index.json", index.encode(), 0o644)
        for blob in (layer, config, manifest):
            digest = hashlib.sha256(blob).hexdigest()
            _tar_member(tar, f"blobs/sha256/{digest}", blob, 0o644)
    return out.getvalue()
