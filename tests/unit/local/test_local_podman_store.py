"""Each pod's own podman store: without the user's store to bind over, fail, never share."""

from __future__ import annotations

import pwd
from pathlib import Path

import pytest

from kube_pmix.local import pause, users
from kube_pmix.local.errors import SetupError


def entry(home: Path) -> pwd.struct_passwd:
    return pwd.struct_passwd(("mpiuser", "x", 1001, 1001, "", str(home), "/bin/bash"))


@pytest.fixture
def podman_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_a_missing_store_is_one_line_naming_it_and_the_fix(tmp_path: Path,
                                                           podman_here: None) -> None:
    with pytest.raises(SetupError) as caught:
        users.check_podman_store(entry(tmp_path))
    message = str(caught.value)
    assert f"{tmp_path}/.local/share/containers" in message
    assert "scripts/setup-rootless-podman.sh mpiuser" in message
    assert "\n" not in message and caught.value.exit_code == 3


def test_an_existing_store_passes(tmp_path: Path, podman_here: None) -> None:
    (tmp_path / ".local" / "share" / "containers").mkdir(parents=True)
    users.check_podman_store(entry(tmp_path))


def test_without_podman_there_is_nothing_to_share(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(users.shutil, "which", lambda name: None)
    users.check_podman_store(entry(tmp_path))


def test_the_pod_fails_before_mounting_anything(tmp_path: Path, podman_here: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def mount(source: str, target: str, *rest: object) -> None:
        # stops the pod's set-up here: this runs on the host, outside any namespace
        raise AssertionError(f"mounted {target} before checking the store")

    monkeypatch.setattr(pause.pwd, "getpwnam", lambda name: entry(tmp_path))
    monkeypatch.setattr(pause, "mount", mount)
    with pytest.raises(SetupError):
        pause.podman_per_pod("hpc-cn-0", tmp_path / "state")
