"""The CLI: option parsing, the no-option fast path, dry-run, one-line errors and statuses."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from wrap import cli, run
from wrap.settings import Plan


@pytest.fixture
def podman_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `podman` on a private PATH (never run: these tests stop before exec)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "podman"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    for name in list(__import__("os").environ):
        if name.startswith(("WRAP_", "PMIX_", "OMPI_", "PRTE_", "OPAL_")) or name in (
            "MPI_IMAGE", "CONTAINER_ARGS"
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MPI_IMAGE", "localhost/app:1")
    monkeypatch.setenv("PMIX_RANK", "2")
    monkeypatch.chdir(tmp_path)
    return stub


def click_main(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    return int(info.value.code or 0)


def test_dry_run_prints_the_command(podman_stub, capsys):
    assert click_main(["--dry-run", "--", "./app", "a b"]) == 0
    out = capsys.readouterr().out.strip()
    argv = shlex.split(out)
    assert argv[0] == str(podman_stub) and argv[1] == "run"
    assert argv[-3:] == ["localhost/app:1", "./app", "a b"]
    assert "--env=PMIX_RANK" in argv


def test_fast_path_and_option_path_build_the_same_plan(podman_stub, monkeypatch):
    plans: list[Plan] = []

    def capture(plan: Plan) -> None:
        plans.append(plan)
        raise SystemExit(0)

    monkeypatch.setattr(cli, "_ensure_image", lambda plan: None)
    monkeypatch.setattr(run, "exec_plan", capture)
    with pytest.raises(SystemExit):
        cli.main(["./app", "-x"])  # no options: click is not involved
    assert click_main(["--", "./app", "-x"]) == 0
    assert plans[0] == plans[1]


def test_options_after_the_command_belong_to_the_command(podman_stub, capsys):
    assert click_main(["--dry-run", "./app", "--image", "x", "--dry-run"]) == 0
    assert shlex.split(capsys.readouterr().out)[-4:] == ["./app", "--image", "x", "--dry-run"]


def test_wrap_debug_prints_the_command_on_stderr(podman_stub, monkeypatch, capsys):
    monkeypatch.setenv("WRAP_DEBUG", "1")
    monkeypatch.setattr(cli, "_ensure_image", lambda plan: None)

    def stop(plan: Plan) -> None:
        raise SystemExit(0)

    monkeypatch.setattr(run, "exec_plan", stop)
    with pytest.raises(SystemExit):
        cli.main(["./app"])
    err = capsys.readouterr().err
    assert err.startswith("wrap-container: ") and "localhost/app:1 ./app" in err


@pytest.mark.parametrize(
    ("env", "args", "status", "words"),
    [
        ({"MPI_IMAGE": ""}, ["./app"], 114, "MPI_IMAGE"),
        ({"WRAP_PROFILE": "odd"}, ["./app"], 112, "WRAP_PROFILE"),
        ({"WRAP_RUNTIME": "docker"}, ["./app"], 113, "docker"),
        ({}, ["--profile", "unprivileged", "--dry-run", "./app"], None, None),
        ({}, ["--prun", "--prrte-prefix", "/opt/p", "./app"], 112, "--dvm-uri"),
        ({}, ["--dvm-uri", "/nonexistent/uri", "./app"], 112, "cannot read"),
    ],
)
def test_errors_are_one_line_with_a_distinct_status(podman_stub, monkeypatch, capsys, env, args,
                                                    status, words):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # a leading option takes the click path, a leading command the fast path
    code = click_main(args) if args[0].startswith("-") else cli.main(args)
    err = capsys.readouterr().err
    if status is None:
        # /dev/fuse may or may not be usable here: either it runs, or says so
        assert code == 0 or (code == 116 and "/dev/fuse" in err)
        return
    assert code == status
    assert words in err and err.startswith("wrap-container: ")
    assert len(err.strip().splitlines()) == 1


def test_missing_command_is_a_usage_error(podman_stub):
    assert click_main(["--dry-run"]) == 2


def test_empty_dvm_uri_file(podman_stub, tmp_path, capsys):
    uri = tmp_path / "uri"
    uri.write_text("\n")
    assert click_main(["--dvm-uri", str(uri), "--prrte-prefix", "/opt/p", "./app"]) == 112
    assert "empty" in capsys.readouterr().err
