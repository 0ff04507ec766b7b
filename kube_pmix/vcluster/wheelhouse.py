"""The wheelhouse the images install from, chosen for the images' Python, not this host's.

`make wheelhouse` builds our own wheel (pure Python: any interpreter makes the
same) and downloads the wheels of everything it needs for the interpreter of
the image's base, Debian 12: CPython 3.11 on glibc 2.36, on the images'
architecture. pip picks wheels by the tags of the interpreter that runs it, so
a wheelhouse made by a host's own Python 3.12, or on another architecture, or
with a glibc newer than the image's, would not install in the image; naming
the target's tags does not depend on the host. The images install it with
`pip --no-index`: no index is asked at image build time.

    python -m kube_pmix.vcluster.wheelhouse DEST [--python 3.11] [--glibc 2.36] [--arch x86_64]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from typing import Optional, Sequence

# Debian 12 (bookworm), the images' base
PYTHON = "3.11"
GLIBC = (2, 36)
# manylinux's legacy names and the glibc each stands for (PEP 600)
LEGACY = {(2, 5): "manylinux1", (2, 12): "manylinux2010", (2, 17): "manylinux2014"}


def platforms(glibc: tuple[int, int] = GLIBC, arch: str = "x86_64") -> list[str]:
    """Every manylinux platform tag a glibc GLIBC system on ARCH runs, newest first.

    pip takes `--platform` literally (it does not add the older glibc versions a
    newer one runs), so all are named.
    """
    major, newest = glibc
    tags: list[str] = []
    for minor in range(newest, 4, -1):
        tags.append(f"manylinux_{major}_{minor}_{arch}")
        legacy = LEGACY.get((major, minor))
        if legacy and (legacy != "manylinux1" or arch in ("x86_64", "i686")):
            tags.append(f"{legacy}_{arch}")
    return tags


def download_argv(dest: str, requirement: str = "kube-pmix[mpi]", python: str = PYTHON,
                  glibc: tuple[int, int] = GLIBC, arch: str = "x86_64",
                  pip: Sequence[str] = (sys.executable, "-m", "pip")) -> list[str]:
    """pip download of REQUIREMENT and its dependencies, as wheels for the target only.

    Our own wheel is found in DEST (built first); `abi3` and `none` admit the
    stable-ABI and pure wheels beside the interpreter's own ABI.
    """
    version = python.replace(".", "")
    argv = [*pip, "download", "-q", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", python, "--abi", f"cp{version}", "--abi", "abi3",
            "--abi", "none"]
    for tag in platforms(glibc, arch):
        argv += ["--platform", tag]
    return [*argv, "--find-links", dest, "-d", dest, requirement]


def own_wheel_argv(dest: str, source: str = ".",
                   pip: Sequence[str] = (sys.executable, "-m", "pip")) -> list[str]:
    """Our package as a wheel (pure Python), without its dependencies."""
    return [*pip, "wheel", "-q", "--no-deps", "-w", dest, source]


def _glibc(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kube_pmix.vcluster.wheelhouse",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("dest")
    parser.add_argument("--python", default=PYTHON, help="the image's Python (X.Y)")
    parser.add_argument("--glibc", type=_glibc, default=GLIBC, help="the image's glibc (X.Y)")
    parser.add_argument("--arch", default=platform.machine(), help="the image's architecture")
    parser.add_argument("--source", default=".")
    args = parser.parse_args(argv)
    for command in (own_wheel_argv(args.dest, args.source),
                    download_argv(args.dest, python=args.python, glibc=args.glibc,
                                  arch=args.arch)):
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            print(f"wheelhouse: `{' '.join(command[:6])} ...` exited {done.returncode}",
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
