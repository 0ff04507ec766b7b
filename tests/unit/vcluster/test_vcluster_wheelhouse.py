"""The wheelhouse is chosen for the images' interpreter, whatever this host runs."""

from __future__ import annotations

from kube_pmix.vcluster.wheelhouse import download_argv, platforms


def test_every_glibc_the_image_runs_is_named() -> None:
    tags = platforms((2, 36), "x86_64")
    assert tags[0] == "manylinux_2_36_x86_64" and tags[-1] == "manylinux1_x86_64"
    assert {"manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux2010_x86_64",
            "manylinux_2_17_x86_64", "manylinux_2_5_x86_64"} <= set(tags)
    assert "manylinux_2_37_x86_64" not in tags
    arm = platforms((2, 36), "aarch64")
    assert "manylinux2014_aarch64" in arm and not [t for t in arm if "manylinux1" in t]


def test_the_download_names_the_target_not_the_host() -> None:
    argv = download_argv("wh", python="3.11", glibc=(2, 36), arch="aarch64", pip=["pip"])
    assert argv[:3] == ["pip", "download", "-q"]
    assert "--only-binary=:all:" in argv
    pairs = list(zip(argv, argv[1:]))
    assert ("--python-version", "3.11") in pairs and ("--implementation", "cp") in pairs
    assert {v for k, v in pairs if k == "--abi"} == {"cp311", "abi3", "none"}
    assert ("--platform", "manylinux_2_36_aarch64") in pairs
    assert argv[-5:] == ["--find-links", "wh", "-d", "wh", "kube-pmix[mpi]"]
