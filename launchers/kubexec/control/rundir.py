"""The per-user control directory, checked once and then used only through an fd.

    $XDG_RUNTIME_DIR/kubexec-UID   XDG_RUNTIME_DIR absolute, ours and 0700
    /tmp/kubexec-UID               XDG_RUNTIME_DIR unset, empty or relative (XDG: ignore it)

`su`, `sudo -E` and `runuser` keep the caller's XDG_RUNTIME_DIR. In a directory
someone else owns, a path checked with lstat can be swapped for a symlink
before it is used, and a lock opened O_CREAT through it truncated root's file
(the master writes its pid there). So the base must be ours and closed (or
/tmp's kind: root's, sticky), our directory is opened O_NOFOLLOW and checked
with fstat on that fd, and all else is relative to the fd: openat with
O_NOFOLLOW for the lock, and bind/connect by a short relative name with the
directory as the cwd for that one call (no /proc needed, no sun_path limit).

guard/kubexec-front.c does the same in C. Built-in modules only: the control
client imports this on every call.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the client 4 ms; mypy reads this name as True
if TYPE_CHECKING:
    from typing import Callable, Mapping, TypeVar

    T = TypeVar("T")

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Unusable(Exception):
    """The control directory cannot be used; the text says why (`kubexec -v` shows it)."""


def base_dir(env: Mapping[str, str]) -> tuple[str, bool]:
    """(the base directory, whether it is XDG_RUNTIME_DIR)."""
    xdg = env.get("XDG_RUNTIME_DIR", "")
    return (xdg, True) if xdg.startswith("/") else ("/tmp", False)


def _mode(st: os.stat_result) -> str:
    return f"owner uid {st.st_uid}, mode {st.st_mode & 0o7777:o}"


def open_dir(env: Mapping[str, str] | None = None) -> int:
    """An fd of our control directory (made if missing), or Unusable."""
    base, xdg = base_dir(os.environ if env is None else env)
    uid = os.getuid()
    name = f"kubexec-{uid}"
    try:
        parent = os.open(base, _DIR)
    except OSError as exc:
        raise Unusable(f"cannot open {base}: {exc.strerror}") from None
    try:
        st = os.fstat(parent)
        if xdg and (st.st_uid != uid or st.st_mode & 0o077):
            raise Unusable(f"XDG_RUNTIME_DIR {base} is not ours and 0700 ({_mode(st)})")
        if not xdg and (st.st_uid not in (0, uid)
                        or st.st_mode & 0o022 and not st.st_mode & 0o1000):
            raise Unusable(f"{base} is open to others without the sticky bit ({_mode(st)})")
        try:  # noqa: SIM105 - contextlib costs this hot path 2.5 ms to import
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            pass
        try:
            fd = os.open(name, _DIR, dir_fd=parent)
        except OSError as exc:  # ELOOP: a symlink where our directory should be
            raise Unusable(f"cannot open {base}/{name}: {exc.strerror}") from None
    except OSError as exc:
        raise Unusable(f"cannot use {base}/{name}: {exc.strerror}") from None
    finally:
        os.close(parent)
    st = os.fstat(fd)
    if st.st_uid != uid or st.st_mode & 0o077:
        os.close(fd)
        raise Unusable(f"{base}/{name} is not ours and 0700 ({_mode(st)})")
    return fd


def in_dir(dirfd: int, call: Callable[[], T]) -> T:
    """`call()` with `dirfd` as the cwd: bind or connect a socket by its name there."""
    here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fchdir(dirfd)
        return call()
    finally:
        os.fchdir(here)
        os.close(here)


def open_lock(dirfd: int, name: str) -> int:
    """The lock file `name` in the directory: created 0600, never through a link."""
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=dirfd)
    st = os.fstat(fd)
    if st.st_mode & 0o170000 != 0o100000 or st.st_uid != os.getuid() or st.st_nlink != 1:
        os.close(fd)
        raise OSError(f"{name} is not a plain file of ours")
    return fd
