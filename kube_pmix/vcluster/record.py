"""What the last `kube-pmix images build` made, kept for a later push or deploy.

`make images` and `make push-images` (or `deploy-*`) are separate runs: without a
record, a push of "every image" tried the ones the build skipped (k8s-nas
without its source) and a deploy used the default registry whatever the build
was told. The record says under which registry and tag the images were built,
and which: `images push` pushes those, and push and deploy take its registry and
tag unless given them. One JSON file, under build/images of the source tree
(KUBE_PMIX_IMAGE_RECORD to put it elsewhere).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from kube_pmix.vcluster.paths import repo_root


@dataclass(frozen=True)
class Record:
    registry: str
    tag: str
    built: list[str] = field(default_factory=list)  # short names, build order


def path() -> Path:
    env = os.environ.get("KUBE_PMIX_IMAGE_RECORD")
    return Path(env) if env else repo_root() / "build" / "images" / "record.json"


def load() -> Optional[Record]:
    try:
        data = json.loads(path().read_text())
        return Record(str(data["registry"]), str(data["tag"]), [str(b) for b in data["built"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save(record: Record, previous: Optional[Record] = None) -> None:
    """Write RECORD; images of PREVIOUS under the same registry and tag are kept in it
    (building one image adds to what an earlier build made)."""
    built = list(record.built)
    if previous and (previous.registry, previous.tag) == (record.registry, record.tag):
        built = [b for b in previous.built if b not in built] + built
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(Record(record.registry, record.tag, built)), indent=1))
    tmp.replace(target)


def choose(given: Optional[str], recorded: Optional[str], default: str) -> str:
    """An explicit value (option or environment), else the record's, else the default."""
    if given:
        return given
    return recorded or default
