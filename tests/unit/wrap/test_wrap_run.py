"""Starting the runtime: docker's env-file lifetime, signal forwarding, exit statuses.

The runtime here is a small shell stand-in named `docker` that reports what it
was given; the wrapper under test is the real CLI in its own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wrap.run import status_of

STUB = """#!/bin/sh
log={log}
if [ "$1" = image ]; then echo "$*" > $log/inspect; exit 1; fi
while [ $# -gt 0 ]; do
    if [ "$1" = --env-file ]; then f=$2; fi
    shift
done
echo "$f" > $log/path
stat -c %a "$f" > $log/mode
cat "$f" > $log/content
case "$STUB_MODE" in
    wait) trap 'echo term > $log/signal; exit 42' TERM
          echo ready > $log/ready
          while :; do sleep 0.05; done ;;
    fail) exit 125 ;;
esac
exit 9
"""


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    log = tmp_path / "log"
    log.mkdir()
    path = tmp_path / "bin" / "docker"
    path.parent.mkdir()
    path.write_text(STUB.format(log=log))
    path.chmod(0o755)
    return path


def wrapper(stub: Path, mode: str, **popen: object) -> subprocess.Popen[str]:
    run_dir = stub.parent.parent / "run"
    run_dir.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "XDG_RUNTIME_DIR": str(run_dir),
        "MPI_IMAGE": "app:1",
        "PMIX_RANK": "0",
        "PMIX_SPACE": "a b",
        "SECRET_TOKEN": "do-not-leak",
        "STUB_MODE": mode,
    }
    argv = [sys.executable, "-m", "wrap.cli", "--runtime", str(stub), "--no-cwd-mount", "app"]
    return subprocess.Popen(argv, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_env_file_is_private_holds_forwarded_values_and_is_removed(stub):
    proc = wrapper(stub, "plain")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 9, err
    log = stub.parent.parent / "log"
    env_file = Path((log / "path").read_text().strip())
    assert env_file.parent == stub.parent.parent / "run"
    assert (log / "mode").read_text().strip() == "600"
    assert (log / "content").read_text() == "PMIX_RANK=0\nPMIX_SPACE=a b\n"
    assert not env_file.exists()
    assert list(env_file.parent.iterdir()) == []


def test_signal_is_forwarded_and_env_file_removed(stub):
    proc = wrapper(stub, "wait")
    log = stub.parent.parent / "log"
    try:
        wait_for(log / "ready")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
    assert (log / "signal").read_text().strip() == "term"
    assert not Path((log / "path").read_text().strip()).exists()


def test_docker_failure_on_a_missing_image_says_how_to_pull(stub):
    proc = wrapper(stub, "fail")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 115
    assert "app:1" in err and "pull" in err and len(err.strip().splitlines()) == 1
    log = stub.parent.parent / "log"
    assert (log / "inspect").read_text().split()[:2] == ["image", "inspect"]
    assert not Path((log / "path").read_text().strip()).exists()


@pytest.mark.parametrize(
    ("command", "expected"),
    [("exit 0", 0), ("exit 3", 3), ("exit 255", 255), ("kill -TERM $$", 128 + 15),
     ("kill -KILL $$", 128 + 9)],
)
def test_status_of_follows_the_shell_convention(command, expected):
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", command], dict(os.environ))
    _, status = os.waitpid(pid, 0)
    assert status_of(status) == expected
