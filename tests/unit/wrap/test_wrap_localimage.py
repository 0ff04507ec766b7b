"""The host-made root filesystem: tools, their libraries, nothing under skipped prefixes."""

from __future__ import annotations

import shutil
import tarfile

import pytest

from wrap.localimage import shared_libraries, write_rootfs

pytestmark = pytest.mark.skipif(shutil.which("ldd") is None, reason="needs ldd (glibc)")


def test_rootfs_has_a_shell_its_loader_and_writable_tmp(tmp_path):
    tarball = tmp_path / "rootfs.tar"
    write_rootfs(tarball)
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        assert tar.getmember("tmp").mode == 0o1777
    assert {"bin/sh", "bin/id", "etc/passwd"} <= names
    assert any(name.startswith("lib64/ld-linux") or "/ld-linux" in name for name in names)
    assert any(name.endswith("/libc.so.6") for name in names)


def test_skipped_prefixes_stay_out():
    libs = shared_libraries([shutil.which("sh") or "/bin/sh"], skip_prefixes=["/"])
    assert libs == []
