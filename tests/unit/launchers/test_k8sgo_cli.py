"""k8sgo-launcher's CLI: the fixed PRRTE call, settings from flags and K8SGO_*, exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from launchers.exec.errors import ConnectionLost
from launchers.k8sgo import cli
from launchers.k8sgo.fanout import Outcome
from launchers.k8sgo.settings import Settings


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No kubeconfig, no service account, no K8SGO_* from the caller's environment."""
    import os

    for name in list(os.environ):
        if name.startswith("K8SGO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def hostfile(tmp_path: Path, text: str = "hpc-cn-0\n") -> str:
    path = tmp_path / "hostfile"
    path.write_text(text)
    return str(path)


def test_split_keeps_everything_after_the_first_double_dash() -> None:
    assert cli.split_argv(["-q", "-f", "hf", "--", "prted", "--", "-q"]) == (
        ["-q", "-f", "hf"], ["prted", "--", "-q"])
    assert cli.split_argv(["-f", "hf", "prted"]) == (["-f", "hf", "prted"], None)


def test_flags_and_environment_make_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8SGO_TRANSPORT", "ssh")
    monkeypatch.setenv("K8SGO_CONCURRENCY", "7")
    monkeypatch.setenv("K8SGO_SSH_CONFIG", "/a:/b")
    settings, quiet, path = cli.command.main(
        args=["-q", "-f", "hf", "--ssh-port", "2200", "--concurrency", "9"],
        standalone_mode=False)
    assert (quiet, path) == (True, "hf")
    assert settings == Settings(transport="ssh", concurrency=9, ssh_port=2200,
                                ssh_config=("/a", "/b"))


def test_help_documents_every_setting_and_exit_status(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for field in Settings._fields:
        assert f"K8SGO_{field.upper()}" in text, field
    for status in range(7):
        assert f"\n    {status}    " in text


@pytest.mark.parametrize("args, status, message", [
    (["-f", "HF", "prted"], 2, "missing `--`"),
    (["-f", "HF"], 2, "missing `--`"),
    (["-f", "HF", "--"], 2, "no daemon command"),
    (["--bogus", "-f", "HF", "--", "prted"], 2, "No such option"),
    (["--", "prted"], 2, "Missing option '-f'"),
    (["--heartbeat-timeout", "5", "-f", "HF", "--", "prted"], 2, "must be shorter"),
    (["-f", "NOFILE", "--", "prted"], 3, "hostfile not found"),
    (["-f", "EMPTY", "--", "prted"], 3, "no hosts"),
    (["-f", "DUP", "--", "prted"], 3, "duplicate host"),
    (["-f", "HF", "--", "prted"], 5, "kubeconfig not found"),
    (["--transport", "ssh", "-f", "BADHOST", "--", "prted"], 4, "bad_host.invalid"),
])
def test_bad_input_is_one_line_and_a_distinct_status(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        args: list, status: int, message: str) -> None:
    files = {"HF": hostfile(tmp_path), "NOFILE": str(tmp_path / "none"),
             "EMPTY": str(tmp_path / "empty"),
             "DUP": str(tmp_path / "dup"), "BADHOST": str(tmp_path / "badhost")}
    (tmp_path / "dup").write_text("a\nb\na\n")
    (tmp_path / "empty").write_text("# nothing\n")
    (tmp_path / "badhost").write_text("bad_host.invalid\n")
    # ssh: a key so that the check that fails is the host lookup, and no config files
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("key")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("K8SGO_SSH_CONFIG", str(tmp_path / "empty_ssh_config"))
    (tmp_path / "empty_ssh_config").write_text("")
    assert cli.main([files.get(a, a) for a in args]) == status
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("k8sgo-launcher: "), err
    assert message in err[0]


def test_failure_lines_and_exit_status() -> None:
    outcomes = [
        Outcome(0, "a", status=0, started=True),
        Outcome(1, "b", status=3, started=True),
        Outcome(2, "c", error=ConnectionLost("exec session broke: reset", "c"), started=True),
        Outcome(3, "d", error=ConnectionLost("refused", "d")),
        Outcome(4, "e", status=143, started=True, ended_by_us=True),
        Outcome(5, "f", status=137, started=True),
        # prted's own failure (exit(-43)): a status above 128 that no signal gives
        Outcome(6, "g", status=213, started=True),
        Outcome(7, "h", status=0, started=True, premature=True),
        Outcome(8, "i", error=ConnectionLost("no answer from API server s: timed out after 20 s",
                                             "i")),
    ]
    assert cli.failure_lines(outcomes) == [
        "b: exit status 3", "c: exec session broke: reset", "d: not started: refused",
        "f: exit status 137 (SIGKILL?)", "g: exit status 213",
        "h: exited with status 0 while the launch still needed it",
        "i: not started: no answer from API server s: timed out after 20 s (each step's bound: "
        "--connect-timeout, K8SGO_CONNECT_TIMEOUT)"]
    assert cli.exit_status(outcomes, None) == 1
    assert cli.exit_status(outcomes, 15) == 143
    assert cli.exit_status(outcomes[:1], None) == 0
    assert cli.exit_status([outcomes[4]], None) == 1  # ended after someone's failure


def test_the_installed_commands_keep_their_output_and_status(tmp_path: Path) -> None:
    """Both names leave through `entry` (os._exit, no interpreter teardown): the exit
    status, and what was written to a piped stdout and stderr, must survive that."""
    import subprocess
    import sys

    for name in ("k8sgo-launcher", "basic_launcher"):
        command = str(Path(sys.executable).with_name(name))
        shown = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0 and "Exit statuses:" in shown.stdout, shown
        missing = subprocess.run([command, "-f", str(tmp_path / "none"), "--", "prted"],
                                 capture_output=True, text=True, timeout=60)
        assert missing.returncode == 3 and missing.stderr.startswith(f"{cli.PROG}: "), missing
