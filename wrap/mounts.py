"""Which host directories a rank must see, at the same paths.

A PMIx client finds its server's shared-memory data store (gds/shmem2) and
Open MPI its job session directory through paths in its environment; those
directories live on the host, so they are bind-mounted where the variables say.
"""

from __future__ import annotations

import posixpath

from .errors import BadSettingError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Iterable, Mapping

# Always: the PMIx server's per-job tmpdir (gds shmem segments, server
# rendezvous) and Open MPI's per-rank session dir (shared-memory backing files).
RANK_DIR_VARS = ("PMIX_SERVER_TMPDIR", "OMPI_FILE_LOCATION")
# Also for prun injection: a PMIx tool looks for the DVM's rendezvous files
# in the system tmpdir when it is not handed a URI.
TOOL_DIR_VARS = ("PMIX_SYSTEM_TMPDIR",)


def named_dirs(env: Mapping[str, str], inject_prrte: bool) -> list[str]:
    """Absolute, normalised directories named by the rendezvous variables."""
    names = RANK_DIR_VARS + (TOOL_DIR_VARS if inject_prrte else ())
    out = []
    for name in names:
        value = env.get(name, "")
        if value.startswith("/"):
            out.append(posixpath.normpath(value))
    return out


def outermost(paths: Iterable[str]) -> list[str]:
    """Distinct paths without those inside another one (one mount covers them)."""
    result: list[str] = []
    for path in sorted(set(paths)):
        if path == "/":
            continue  # never hand the whole host tree to a rank
        if not any(path == kept or path.startswith(kept + "/") for kept in result):
            result.append(path)
    return result


def volume(src: str, dst: str, readonly: bool = False) -> str:
    """A `--volume` value; refuses paths the SRC:DST[:OPTS] syntax cannot carry."""
    for path in (src, dst):
        if ":" in path:
            raise BadSettingError(f"cannot bind-mount {path!r}: ':' in a mount path")
    return f"--volume={src}:{dst}" + (":ro" if readonly else "")
