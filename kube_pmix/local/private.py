"""Files and folders that hold secrets, created with their final mode (no chmod afterwards).

Tokens and kubeconfigs let whoever reads them run commands in every pod, whose
processes share this machine's file system: they are 0600 from the moment they
exist (`O_CREAT | O_EXCL` with mode 0600, so neither the umask nor an existing
file can widen them), and their folders 0700.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

FILE_MODE = 0o600
DIR_MODE = 0o700
Owner = Optional[tuple[int, int]]


def write_private(path: Path, data: Union[str, bytes], owner: Owner = None) -> None:
    """Creates `path` (it must not exist) as 0600, owned by `owner` (uid, gid) or the caller,
    then writes `data`. The owner is set before a byte of the secret is written."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 FILE_MODE)
    try:
        if owner is not None:
            os.fchown(fd, *owner)
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def make_private_dir(path: Path, owner: Owner = None) -> None:
    """Creates the folder `path` (it must not exist) as 0700, owned by `owner` or the caller."""
    os.mkdir(path, DIR_MODE)  # the umask can only narrow it
    if owner is not None:
        os.chown(path, *owner)
