"""scripts/build-prrte-k8sgo.sh: what it fetches, and what a second run redoes.

Offline: a local file: archive stands for Debian's deb-src suite (apt checks it
as it would the real one), and the stages are asked what they would redo
(`plan`) rather than run, so nothing is compiled here.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "build-prrte-k8sgo.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("apt-get") is None or shutil.which("dpkg-scansources") is None,
    reason="needs apt-get and dpkg-scansources (dpkg-dev)")


def _sums(path: Path) -> tuple[str, str, int]:
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data)


def make_archive(root: Path, version: str, prrte: str, pmix: str) -> Path:
    """A deb-src archive serving `openmpi` at `version`, whose orig tarball's 3rd-party/
    holds PRRTE `prrte` and OpenPMIx `pmix` (VERSION files only). Returns its sources file."""
    upstream = version.split("-")[0]
    repo = root / "repo"
    tree = root / "tree" / f"openmpi-{upstream}" / "3rd-party"
    for name, series in (("prrte", prrte), ("openpmix", pmix)):
        (tree / name).mkdir(parents=True)
        major, minor, release = series.split(".")
        (tree / name / "VERSION").write_text(f"major={major}\nminor={minor}\nrelease={release}\n")
    repo.mkdir()
    orig = repo / f"openmpi_{upstream}.orig.tar.xz"
    with tarfile.open(orig, "w:xz") as tar:
        tar.add(root / "tree" / f"openmpi-{upstream}", arcname=f"openmpi-{upstream}")
    debian = repo / f"openmpi_{version}.debian.tar.xz"
    with tarfile.open(debian, "w:xz") as tar:
        (root / "debian").mkdir()
        (root / "debian" / "control").write_text("Source: openmpi\n")
        tar.add(root / "debian", arcname="debian")
    files = [_sums(orig) + (orig.name,), _sums(debian) + (debian.name,)]
    (repo / f"openmpi_{version}.dsc").write_text(
        "Format: 3.0 (quilt)\nSource: openmpi\nBinary: openmpi-bin\nArchitecture: any\n"
        f"Version: {version}\nMaintainer: Test <test@example.invalid>\n"
        "Checksums-Sha256:\n" + "".join(f" {s} {n} {f}\n" for s, _, n, f in files)
        + "Files:\n" + "".join(f" {m} {n} {f}\n" for _, m, n, f in files))
    sources = subprocess.run(["dpkg-scansources", ".", "/dev/null"], cwd=repo, check=True,
                             capture_output=True).stdout
    (repo / "Sources").write_bytes(sources)
    (repo / "Sources.gz").write_bytes(gzip.compress(sources))
    sums = "".join(f" {_sums(repo / n)[0]} {len((repo / n).read_bytes())} {n}\n"
                   for n in ("Sources", "Sources.gz"))
    (repo / "Release").write_text(f"Origin: test\nSuite: trixie\nSHA256:\n{sums}")
    listing = root / "sources.list"
    listing.write_text(f"deb-src [trusted=yes] file:{repo} ./\n")
    return listing


def script(build: Path, overlay: Path, mode: str, pinned: str,
           sources: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OPENMPI_SRC_VERSION": pinned,
           "SRC_RELEASE": "trixie", **({"PRRTE_K8SGO_APT_SOURCES": str(sources)}
                                       if sources else {})}
    return subprocess.run(["bash", str(SCRIPT), str(build), str(overlay), mode], env=env,
                          capture_output=True, text=True, timeout=120)


def sourced(build: Path, overlay: Path, pinned: str, code: str) -> str:
    """Run `code` with the script's functions loaded (it only runs main when executed)."""
    done = subprocess.run(["bash", "-c", f'set -euo pipefail; source "$1" "$2" "$3"; {code}',
                           "sourced", str(SCRIPT), str(build), str(overlay)],
                          env={"PATH": "/usr/bin:/bin", "OPENMPI_SRC_VERSION": pinned,
                               "SRC_RELEASE": "trixie"},
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """A copy of plm_k8sgo/ that a test may change."""
    copy = tmp_path / "overlay"
    shutil.copytree(REPO / "plm_k8sgo", copy)
    return copy


def test_a_suite_past_the_pinned_version_builds_what_it_serves_and_says_so(tmp_path, overlay):
    sources = make_archive(tmp_path / "archive", "5.0.9-2", "3.0.11", "5.0.8")
    done = script(tmp_path / "build", overlay, "fetch", "5.0.7-1", sources)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5.0.9-2"
    assert done.stderr.strip().splitlines() == [
        "prrte-k8sgo: Debian's trixie suite no longer serves openmpi 5.0.7-1; building "
        "5.0.9-2 instead (PRRTE 3.0.11 and OpenPMIx 5.0.8)"]
    # the images take the source by a name that does not change with the version
    download = tmp_path / "build" / "download"
    assert (download / "openmpi.orig.tar.xz").read_bytes() == (
        download / "openmpi_5.0.9.orig.tar.xz").read_bytes()


def test_the_pinned_version_is_taken_without_a_word_when_served(tmp_path, overlay):
    sources = make_archive(tmp_path / "archive", "5.0.7-1", "3.0.8", "5.0.5")
    done = script(tmp_path / "build", overlay, "fetch", "5.0.7-1", sources)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "5.0.7-1", "")


@pytest.mark.parametrize("prrte, pmix, says", [
    ("4.0.0", "5.0.8", "carries PRRTE 4.0.0; plm/k8sgo is written for PRRTE 3.0.x"),
    ("3.0.11", "6.0.0", "carries OpenPMIx 6.0.0; PRRTE 3.0.x is built with OpenPMIx 5.0.x"),
])
def test_a_served_version_of_another_series_is_refused(tmp_path, overlay, prrte, pmix, says):
    sources = make_archive(tmp_path / "archive", "6.0.1-1", prrte, pmix)
    done = script(tmp_path / "build", overlay, "fetch", "5.0.7-1", sources)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], done.stderr


def built(build: Path, overlay: Path, pinned: str) -> None:
    """Stamps as a finished build of the current inputs leaves them."""
    sourced(build, overlay, pinned,
            'TAKEN=$(cat "$DL/VERSION"); echo "$TAKEN" >"$BUILD/.unpacked"; '
            'pmix_key >"$BUILD/.pmix-installed"; configure_key >"$BUILD/.prrte-configured"; '
            'install_key >"$BUILD/.prrte-installed"')


def test_each_stage_is_redone_exactly_when_what_it_was_made_from_changed(tmp_path, overlay):
    archive = make_archive(tmp_path / "archive", "5.0.7-1", "3.0.8", "5.0.5")
    build = tmp_path / "build"
    assert script(build, overlay, "fetch", "5.0.7-1", archive).returncode == 0
    assert script(build, overlay, "plan", "5.0.7-1").stdout.split() == [
        "unpack", "pmix", "prrte-configure", "prrte-install"]
    built(build, overlay, "5.0.7-1")
    assert script(build, overlay, "plan", "5.0.7-1").stdout.split() == []
    # a source file's content: make and install only
    module = overlay / "src" / "mca" / "plm" / "k8sgo" / "plm_k8sgo_module.c"
    module.write_text(module.read_text() + "\n/* changed */\n")
    assert script(build, overlay, "plan", "5.0.7-1").stdout.split() == ["prrte-install"]
    # a file gone from the overlay: autogen and configure again
    built(build, overlay, "5.0.7-1")
    (overlay / "src" / "mca" / "plm" / "k8sgo" / "plm_k8sgo_placement.c").unlink()
    assert script(build, overlay, "plan", "5.0.7-1").stdout.split() == [
        "prrte-configure", "prrte-install"]
    # another version: everything, OpenPMIx and PRRTE's configure included
    built(build, overlay, "5.0.7-1")
    assert script(build, overlay, "plan", "5.0.8-1").stdout.split() == [
        "fetch", "unpack", "pmix", "prrte-configure", "prrte-install"]
    newer = make_archive(tmp_path / "newer", "5.0.8-1", "3.0.9", "5.0.6")
    assert script(build, overlay, "fetch", "5.0.8-1", newer).returncode == 0
    assert script(build, overlay, "plan", "5.0.8-1").stdout.split() == [
        "unpack", "pmix", "prrte-configure", "prrte-install"]


def test_files_deleted_from_the_overlay_leave_the_tree(tmp_path, overlay):
    build = tmp_path / "build"
    archive = make_archive(tmp_path / "archive", "5.0.7-1", "3.0.8", "5.0.5")
    assert script(build, overlay, "fetch", "5.0.7-1", archive).returncode == 0
    tree = build / "src" / "openmpi-5.0.7" / "3rd-party" / "prrte"
    (tree / "src").mkdir(parents=True)
    assert script(build, overlay, "sync", "5.0.7-1").returncode == 0
    plm = tree / "src" / "mca" / "plm" / "k8sgo"
    ess = tree / "src" / "mca" / "ess" / "k8sgo"
    assert (plm / "plm_k8sgo_placement.c").is_file() and (ess / "ess_k8sgo_module.c").is_file()
    (ess / "Makefile.in").write_text("generated by autogen\n")  # not the overlay's
    (overlay / "src" / "mca" / "plm" / "k8sgo" / "plm_k8sgo_placement.c").unlink()
    shutil.rmtree(overlay / "src" / "mca" / "ess" / "k8sgo")
    assert script(build, overlay, "sync", "5.0.7-1").returncode == 0
    assert not (plm / "plm_k8sgo_placement.c").exists()
    assert (plm / "plm_k8sgo_module.c").is_file()
    assert not ess.exists()  # a component the overlay dropped goes whole
