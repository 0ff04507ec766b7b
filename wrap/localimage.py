"""A tiny app image made from this host's own files, for machines without a registry.

The root filesystem holds a shell, a few tools and the system libraries that
the given programs link against (found with ldd); installs that live
elsewhere (an MPI prefix, the program itself) are bind-mounted at run time.
`podman import` of the tarball gives a local image in well under a second;
the tests, the benchmark and offline demos use it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterable, Sequence

TOOLS = ("sh", "cat", "env", "id", "ls", "sleep", "true", "false", "hostname")
_LDD_PATH = re.compile(r"(/\S+)")


def shared_libraries(programs: Iterable[str], skip_prefixes: Sequence[str] = ()) -> list[str]:
    """System libraries (and the loader) the programs need, except under skip_prefixes."""
    found: set[str] = set()
    for program in programs:
        proc = subprocess.run(
            ["ldd", program], capture_output=True, text=True, timeout=60, check=False
        )
        for line in proc.stdout.splitlines():
            if "=>" in line:
                line = line.split("=>", 1)[1]
            match = _LDD_PATH.search(line)
            if match and not match.group(1).startswith(tuple(skip_prefixes)):
                found.add(match.group(1))
    return sorted(found)


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_text(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_rootfs(dest: Path, programs: Sequence[str] = (),
                 skip_prefixes: Sequence[str] = ()) -> None:
    """Write a root filesystem tarball with TOOLS in /bin plus what `programs` link to.

    `programs` themselves are not copied (they are bind-mounted); libraries under
    `skip_prefixes` (e.g. the MPI prefix, also bind-mounted) are left out.
    """
    tools = [p for p in (shutil.which(t) for t in TOOLS) if p]
    libs = shared_libraries([*tools, *programs], skip_prefixes)
    with tarfile.open(dest, "w") as tar:
        for folder in ("bin", "dev", "etc", "proc", "run", "sys", "usr", "var", "lib64"):
            _add_dir(tar, folder)
        _add_dir(tar, "tmp", 0o1777)
        _add_text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        _add_text(tar, "etc/group", "root:x:0:\n")
        _add_text(tar, "etc/hosts", "127.0.0.1 localhost\n")
        for tool in tools:
            tar.add(os.path.realpath(tool), arcname=f"bin/{os.path.basename(tool)}")
        made: set[str] = set()
        for lib in libs:
            parent = os.path.dirname(lib).lstrip("/")
            parts = parent.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in made and sub not in ("lib64", "usr"):
                    _add_dir(tar, sub)
                made.add(sub)
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"))
