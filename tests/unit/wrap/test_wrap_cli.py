"""The CLI: option parsing, the no-option fast path, dry-run, one-line errors and statuses."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from wrap import cli, supervise
from wrap.settings import Plan


@pytest.fixture
def podman_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `podman` on a private PATH (never run: these tests stop before it would start)."""
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


def option_main(args: list[str]) -> int:
    """cli.main's status (the option form returns it; a stubbed exec raises SystemExit)."""
    try:
        return cli.main(args)
    except SystemExit as info:
        return int(info.code or 0)


def test_dry_run_prints_the_command(podman_stub, capsys):
    assert option_main(["--dry-run", "--", "./app", "a b"]) == 0
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
    monkeypatch.setattr(supervise, "run_podman", capture)
    with pytest.raises(SystemExit):
        cli.main(["./app", "-x"])  # no options: the parser is not involved
    assert option_main(["--", "./app", "-x"]) == 0
    assert plans[0] == plans[1]


def test_options_after_the_command_belong_to_the_command(podman_stub, capsys):
    assert option_main(["--dry-run", "./app", "--image", "x", "--dry-run"]) == 0
    assert shlex.split(capsys.readouterr().out)[-4:] == ["./app", "--image", "x", "--dry-run"]


def test_wrap_debug_prints_the_command_on_stderr(podman_stub, monkeypatch, capsys):
    monkeypatch.setenv("WRAP_DEBUG", "1")
    monkeypatch.setattr(cli, "_ensure_image", lambda plan: None)

    def stop(plan: Plan) -> None:
        raise SystemExit(0)

    monkeypatch.setattr(supervise, "run_podman", stop)
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
    # a leading option takes the parser's path, a leading command the fast path
    code = option_main(args) if args[0].startswith("-") else cli.main(args)
    err = capsys.readouterr().err
    if status is None:
        # /dev/fuse may or may not be usable here: either it runs, or says so
        assert code == 0 or (code == 116 and "/dev/fuse" in err)
        return
    assert code == status
    assert words in err and err.startswith("wrap-container: ")
    assert len(err.strip().splitlines()) == 1


def test_missing_command_is_a_usage_error(podman_stub):
    assert option_main(["--dry-run"]) == 2


def test_empty_dvm_uri_file(podman_stub, tmp_path, capsys):
    uri = tmp_path / "uri"
    uri.write_text("\n")
    assert option_main(["--dvm-uri", str(uri), "--prrte-prefix", "/opt/p", "./app"]) == 112
    assert "empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--bogus", "./app"], "No such option '--bogus'."),
        (["-x", "./app"], "No such option '-x'."),
        (["--profile", "odd", "./app"],
         "Invalid value for '--profile': 'odd' is not one of 'privileged', 'unprivileged'."),
        (["--userns=root", "./app"], "Invalid value for '--userns': 'root' is not one of"),
        (["--image"], "Option '--image' requires an argument."),
        (["--prun=yes", "./app"], "Option '--prun' does not take a value."),
        (["--dry-run"], "Missing argument 'COMMAND...'."),
        ([], "Missing argument 'COMMAND...'."),
    ],
)
def test_usage_errors_say_what_and_exit_2(podman_stub, capsys, args, error):
    assert option_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: wrap-container [OPTIONS] COMMAND...\n")
    assert "Try 'wrap-container --help' for help." in err
    assert f"Error: {error}" in err


def test_option_forms(podman_stub, monkeypatch, capsys):
    monkeypatch.setenv("A", "1")
    monkeypatch.setenv("B", "2")
    args = ["--image=other:2", "--image", "last:3", "-eA", "-e", "B", "--env=C=3",
            "--pull", "missing", "--no-cwd-mount", "--dry-run", "./app", "-e", "x"]
    assert option_main(args) == 0
    argv = shlex.split(capsys.readouterr().out.splitlines()[0])
    assert argv[-4:] == ["last:3", "./app", "-e", "x"]  # the last --image wins
    assert {"--env=A", "--env=B", "--env=C", "--pull=missing"} <= set(argv)  # C=3: in its env
    assert not any(a.startswith("--workdir") for a in argv)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--image", "x", "--help", "./app"]])
def test_help(podman_stub, capsys, args):
    assert option_main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: wrap-container [OPTIONS] COMMAND...\n")
    for option in ("--image IMAGE", "--profile [privileged|unprivileged]", "-e, --env SPEC",
                   "--dvm-uri FILE", "--dry-run", "-h, --help", "WRAP_DEBUG"):
        assert option in out


def test_the_option_form_imports_no_parser_library(podman_stub):
    """A rank with options starts as lean as one without: no click, argparse or typing."""
    import subprocess
    import sys

    code = ("import sys; from wrap import cli; status = cli.main(['--dry-run', '-e', 'X', "
            "'true']); print(' '.join(m for m in ('click', 'argparse', 'typing', 'dataclasses') "
            "if m in sys.modules)); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(cli.__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == ""


def test_closed_stdio_reaches_the_runtime_as_dev_null(podman_stub):
    """As ssh's sanitise_stdfd: a rank started with 0, 1 and 2 closed gets /dev/null there,
    not whatever the wrapper opened first (and no traceback for want of sys.stderr)."""
    import os
    import subprocess
    import sys

    podman_stub.write_text('#!/bin/sh\n'  # what it was given, read before any redirection
                           'fds=$(/bin/readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2)\n'
                           'echo "$fds" >"$REPORT"\n')
    report = podman_stub.parent / "report"
    wrapper = Path(sys.executable).parent / "wrap-container"
    done = subprocess.run(f"{shlex.quote(str(wrapper))} true <&- >&- 2>&-", shell=True,
                          env={**os.environ, "REPORT": str(report)}, timeout=60)
    assert done.returncode == 0
    assert report.read_text().split() == ["/dev/null"] * 3
