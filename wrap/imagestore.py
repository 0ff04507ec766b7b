"""Is the image in podman's local store? Answered in about a millisecond.

`podman image exists` costs a whole podman start (~60 ms here), paid by every
rank; reading the store's image index costs a file read. The quick look may
only say "yes" or "cannot tell"; a "no" is always confirmed by podman itself
(only on the failure path), so a store laid out differently never blocks a run.
Plain string handling, no json or re: those imports alone would cost more
than the look.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Iterable, Mapping, Optional

_ROOT_KEYS = ("rootless_storage_path", "graphroot")
_HEX = frozenset("0123456789abcdef")


def _conf_roots(path: str) -> dict[str, str]:
    """`key = "value"` lines of storage.conf for the keys naming the store."""
    found: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as conf:
            lines = conf.read().splitlines()
    except OSError:
        return found
    for line in lines:
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if sep and key in _ROOT_KEYS and len(value) >= 2 and value[0] == value[-1] == '"':
            found[key] = value[1:-1]
    return found


def storage_root(environ: Mapping[str, str], uid: int) -> str:
    """Where podman keeps images for this user (graphroot)."""
    home = environ.get("HOME", "/")
    if "CONTAINERS_STORAGE_CONF" in environ:
        conf = environ["CONTAINERS_STORAGE_CONF"]
    elif uid == 0:
        conf = "/etc/containers/storage.conf"
    else:
        config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        conf = os.path.join(config_home, "containers", "storage.conf")
    keys = _conf_roots(conf)
    root = (keys.get("rootless_storage_path") if uid != 0 else None) or keys.get("graphroot")
    if root:
        return os.path.expanduser(root.replace("$HOME", home))
    if uid == 0:
        return "/var/lib/containers/storage"
    data_home = environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return os.path.join(data_home, "containers", "storage")


def _split(ref: str) -> tuple[str, str]:
    """(repository, tag) of a reference, tag defaulting to latest."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def _is_id(ref: str) -> bool:
    digest = ref[len("sha256:"):] if ref.startswith("sha256:") else ref
    return 12 <= len(digest) <= 64 and set(digest) <= _HEX


def matches(ref: str, stored_names: Iterable[str], stored_ids: Iterable[str]) -> bool:
    """Whether `ref` names one of the stored images (short names included)."""
    if "@" in ref:
        return False  # digests: leave them to podman
    repo, tag = _split(ref)
    first = repo.split("/", 1)[0]
    qualified = "/" in repo and ("." in first or ":" in first or first == "localhost")
    for name in stored_names:
        s_repo, s_tag = _split(name)
        if s_tag != tag:
            continue
        if qualified:
            if s_repo == repo:
                return True
        else:
            path = s_repo.split("/", 1)[1] if "/" in s_repo else s_repo
            if path in (repo, "library/" + repo):
                return True
    if _is_id(ref):
        digest = ref[len("sha256:"):] if ref.startswith("sha256:") else ref
        return any(i.startswith(digest) for i in stored_ids)
    return False


def _strings_after(text: str, key: str) -> list[str]:
    """The quoted strings of every `"key": value` in a JSON text (value a string or list)."""
    out: list[str] = []
    marker = f'"{key}"'
    at = text.find(marker)
    while at >= 0:
        rest = text[at + len(marker):].lstrip()
        if rest.startswith(":"):
            rest = rest[1:].lstrip()
            end = rest.find("]") if rest.startswith("[") else rest.find('"', 1)
            chunk = rest[: end + 1] if end >= 0 else ""
            out.extend(chunk.split('"')[1::2])
        at = text.find(marker, at + len(marker))
    return out


def known_locally(ref: str, environ: Mapping[str, str], uid: int) -> Optional[bool]:
    """True when the store's index lists `ref`; None when the index says nothing useful."""
    root = storage_root(environ, uid)
    try:
        stores = [entry for entry in os.listdir(root) if entry.endswith("-images")]
    except OSError:
        return None
    for store in stores:
        try:
            with open(os.path.join(root, store, "images.json"), encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            continue
        if matches(ref, _strings_after(text, "names"), _strings_after(text, "id")):
            return True
    return None


def exists(runtime: str, ref: str, env: Mapping[str, str]) -> bool:
    """The authoritative answer, from the runtime itself (one process start)."""
    import subprocess  # only on the slow path: keep the per-rank start lean

    if "docker" in os.path.basename(runtime):
        argv = [runtime, "image", "inspect", "--format", "{{.Id}}", ref]
    else:
        argv = [runtime, "image", "exists", ref]
    proc = subprocess.run(
        argv, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, timeout=60, check=False,
    )
    return proc.returncode == 0
