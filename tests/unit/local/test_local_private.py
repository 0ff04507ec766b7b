"""Secret files are born 0600 (whatever the umask), never chmod'ed afterwards, never reused."""

from __future__ import annotations

import os
import stat

import pytest

from kube_pmix.local.config import ClusterConfig
from kube_pmix.local.private import make_private_dir, write_private


@pytest.fixture
def open_umask():
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def no_chmod(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a secret must not need a chmod after its creation (a window)")

    monkeypatch.setattr(os, "chmod", refuse)  # Path.chmod goes through it too


def test_file_and_folder_modes_even_with_umask_0(tmp_path, open_umask, no_chmod):
    make_private_dir(tmp_path / "d")
    write_private(tmp_path / "d" / "token", "secret")
    assert (mode(tmp_path / "d"), mode(tmp_path / "d" / "token")) == (0o700, 0o600)
    assert (tmp_path / "d" / "token").read_text() == "secret"


def test_an_existing_file_or_link_is_never_written_through(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep")
    (tmp_path / "link").symlink_to(target)
    for path in (target, tmp_path / "link"):
        with pytest.raises(FileExistsError):
            write_private(path, "secret")
    assert target.read_text() == "keep"


def test_config_is_saved_0600(tmp_path, open_umask, no_chmod):
    config = ClusterConfig(name="t", nodes=1, subnet_index=8, idle_timeout=None,
                           admin_token="a", sa_token="s", restricted_token="r", venv="/v",
                           uid=0, gid=0, home="/", user="root")
    config.save(tmp_path / "config.json")
    assert mode(tmp_path / "config.json") == 0o600
