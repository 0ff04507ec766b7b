"""Hostfile parsing for k8sgo-launcher: order, comments, slots tokens, duplicates, bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from launchers.k8sgo.errors import HostfileError
from launchers.k8sgo.hostfile import parse_hostfile, read_hostfile


def test_order_comments_blank_lines_and_trailing_tokens() -> None:
    text = ("# written by wait-for-pods\n\nhpc-cn-0 slots=4\n  hpc-cn-1.hpc-cluster  # two\n"
            "\t\n10.244.3.7 slots=2 max_slots=4\nhpc-cn-3.hpc-cluster.ns.svc.cluster.local\n")
    assert parse_hostfile(text) == [
        "hpc-cn-0", "hpc-cn-1.hpc-cluster", "10.244.3.7",
        "hpc-cn-3.hpc-cluster.ns.svc.cluster.local"]


def test_duplicates_are_refused_case_and_root_dot_insensitive() -> None:
    with pytest.raises(HostfileError, match=r"hf:3: duplicate host HPC-CN-0\. \(first on line 1\)"):
        parse_hostfile("hpc-cn-0\nhpc-cn-1\nHPC-CN-0.\n", "hf")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "  # x\n\t\n"])
def test_no_hosts_is_an_error(text: str) -> None:
    with pytest.raises(HostfileError, match="no hosts"):
        parse_hostfile(text)


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(HostfileError, match="hostfile not found"):
        read_hostfile(str(tmp_path / "nope"))
    with pytest.raises(HostfileError, match="cannot read hostfile"):
        read_hostfile(str(tmp_path))  # a directory
    binary = tmp_path / "bin"
    binary.write_bytes(b"\xff\xfe\n")
    with pytest.raises(HostfileError, match="not UTF-8"):
        read_hostfile(str(binary))
    good = tmp_path / "hf"
    good.write_text("a\nb\n")
    assert read_hostfile(str(good)) == ["a", "b"]


def test_a_user_is_kept_and_is_not_part_of_the_host() -> None:
    assert parse_hostfile("mpiuser@hpc-cn-0\nhpc-cn-1\n") == ["mpiuser@hpc-cn-0", "hpc-cn-1"]
    with pytest.raises(HostfileError, match="duplicate host"):
        parse_hostfile("mpiuser@hpc-cn-0\nhpc-cn-0\n")
