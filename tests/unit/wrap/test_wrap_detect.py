"""What the host offers: PATH lookup, the PRRTE prefix, rendezvous dirs that exist."""

from __future__ import annotations

from pathlib import Path

from wrap import Options, detect
from wrap.detect import which


def make_exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_which_follows_path_order_and_skips_non_executables(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (first).mkdir()
    (first / "podman").write_text("not executable")
    make_exe(second / "podman")
    path_var = f"{first}:{second}"
    assert which("podman", path_var) == str(second / "podman")
    assert which("docker", path_var) is None
    assert which(str(second / "podman"), "") == str(second / "podman")
    assert which(str(first), path_var) is None  # a directory is not a program


def test_detect_reads_the_environment_it_is_given(tmp_path, monkeypatch):
    make_exe(tmp_path / "bin" / "podman")
    make_exe(tmp_path / "prrte" / "bin" / "prte")
    session = tmp_path / "session"
    session.mkdir()
    monkeypatch.chdir(tmp_path)
    env = {
        "PATH": f"{tmp_path / 'bin'}:{tmp_path / 'prrte' / 'bin'}",
        "PMIX_SERVER_TMPDIR": str(session),
        "OMPI_FILE_LOCATION": str(tmp_path / "missing"),
    }
    host = detect(env, Options(inject_prrte=True))
    assert host.which["podman"] == str(tmp_path / "bin" / "podman")
    assert host.which["docker"] is None
    assert host.existing_dirs == frozenset({str(session)})
    assert host.prrte_prefix == str(tmp_path / "prrte")
    assert host.cwd == str(tmp_path)
    assert detect(env, Options()).prrte_prefix is None  # only looked up for injection
