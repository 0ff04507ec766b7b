"""The podman supervisor: signals go to the rank (never to podman), early ones wait
for the rank's pid, an unsignalable rank is reached through `podman kill`, the
rank's status comes back and the private files go.

The runtime is a stand-in `podman` (Python) that starts the rank as its child,
writes --pidfile/--cidfile like podman, and logs what it sees; the wrapper is
the real CLI in its own process.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]

STUB = """#!{python}
import os, signal, subprocess, sys, time
log = {log!r}
args = sys.argv[1:]

def note(name, text):
    with open(os.path.join(log, name), "a") as fh:
        fh.write(text + "\\n")

if args[0] == "image":
    sys.exit(0)
if args[0] == "kill":
    note("kill", " ".join(args))
    with open(args[args.index("--cidfile") + 1]) as fh:
        assert fh.read() == "0123abcd"
    with open(os.path.join(log, "rank.pid")) as fh:
        os.kill(int(fh.read()), int(args[args.index("--signal") + 1]))
    sys.exit(0)
for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCONT):
    signal.signal(signum, lambda n, f: note("podman-signals", str(n)))
note("podman", f"{{os.getpgid(0)}} {{os.getppid()}} {{os.getpgid(os.getppid())}}")
pid_file = args[args.index("--pidfile") + 1]
cid_file = args[args.index("--cidfile") + 1]
note("files", os.path.dirname(pid_file))
rank = subprocess.Popen(args[args.index("localhost/app:1") + 1:],
                        env={{**os.environ, "STUB_LOG": log}})  # for the fixture's clean-up
with open(os.path.join(log, "rank.pid"), "w") as fh:
    fh.write(str(rank.pid))
time.sleep(float(os.environ.get("STUB_DELAY", "0")))
with open(cid_file, "w") as fh:
    fh.write("0123abcd")
with open(pid_file, "w") as fh:
    fh.write(os.environ.get("STUB_FAKE_PID") or str(rank.pid))
status = rank.wait()
sys.exit(status if status >= 0 else 128 - status)
"""

RANK = 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.05; done'


class Setup:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "log"
        self.run_dir = root / "run"
        self.stub = root / "bin" / "podman"
        for folder in (self.log, self.run_dir, self.stub.parent):
            folder.mkdir(mode=0o777)
            folder.chmod(0o777)  # the wrapper may run as another user
        self.stub.write_text(STUB.format(python=sys.executable, log=str(self.log)))
        self.stub.chmod(0o755)

    def start(self, command: str | list[str], prefix: tuple[str, ...] = (), new_group: bool = False,
              **env: str) -> subprocess.Popen[str]:
        environ = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(REPO),
            "XDG_RUNTIME_DIR": str(self.run_dir),
            "MPI_IMAGE": "localhost/app:1",
            **env,
        }
        argv = [*prefix, sys.executable, "-m", "wrap.cli", "--runtime", str(self.stub),
                "--no-cwd-mount",
                *(["sh", "-c", command] if isinstance(command, str) else command)]
        return subprocess.Popen(argv, env=environ, text=True, cwd=self.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=new_group)

    def read(self, name: str) -> str:
        path = self.log / name
        return path.read_text() if path.exists() else ""


@pytest.fixture
def setup() -> Iterator[Setup]:
    root = Path(tempfile.mkdtemp(prefix="wrap-supervise-"))
    root.chmod(0o755)
    try:
        yield Setup(root)
    finally:
        # a failed test may leave the stand-in podman (own process group) and its rank
        subprocess.run(["pkill", "-KILL", "-f", str(root)], check=False)
        _kill_rank(root / "log")
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _kill_rank(log: Path) -> None:
    """The stand-in's rank, if it outlived a failed test (its pid may be another's by
    now: only a process whose environment names this log is ours)."""
    try:
        pid = int((log / "rank.pid").read_text())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    if f"STUB_LOG={log}".encode() in environ:
        os.kill(pid, signal.SIGKILL)


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_the_rank_gets_the_signal_podman_never_does(setup):
    proc = setup.start(RANK)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    status, out, err = finish(proc)
    assert status == 42, err
    assert out.strip() == "got-term"
    assert setup.read("podman-signals") == ""
    # podman led a process group of its own, so a signal to the launcher's group misses it
    pgid, parent, parent_pgid = (int(word) for word in setup.read("podman").split())
    assert parent == proc.pid and pgid not in (parent_pgid, os.getpgid(0))
    assert list(setup.run_dir.iterdir()) == []  # the pid/cid directory is gone


def test_a_signal_to_the_wrappers_process_group_reaches_the_rank_once(setup):
    # as a launcher or a terminal does: the wrapper leads the group, podman is not in it
    proc = setup.start(RANK, new_group=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.killpg(proc.pid, signal.SIGTERM)
    status, out, _ = finish(proc)
    assert (status, out.split()) == (42, ["got-term"])
    assert setup.read("podman-signals") == ""


def test_a_signal_before_the_rank_is_known_waits_for_its_pid(setup):
    # podman writes the pid file 1.5 s after the rank started: the wrapper must hold
    # the signal, neither drop it nor end podman
    proc = setup.start(RANK, STUB_DELAY="1.5")
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None, "the signal did not wait for the rank's pid"
    status, out, err = finish(proc)
    assert status == 42, err
    assert out.split() == ["got-term"]
    assert setup.read("podman-signals") == ""


# A rank that looks like runc's init for its first second (runc names that stage
# so), then like itself: a signal must wait for the second stage.
FAKE_INIT = [sys.executable, "-c", """
import signal, sys, time
def name(text):
    with open("/proc/self/comm", "w") as fh:
        fh.write(text)
def on_term(signum, frame):
    with open("/proc/self/comm") as fh:
        sys.exit(43 if fh.read().startswith("runc:[") else 42)
signal.signal(signal.SIGTERM, on_term)
name("runc:[2:INIT]")
print("init", flush=True)
time.sleep(1)
name("rank")
time.sleep(60)
"""]


def test_a_signal_while_runc_has_not_started_the_rank_waits(setup):
    proc = setup.start(FAKE_INIT)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "init"
    time.sleep(0.2)  # the pid file is written at once: only the rank's name holds it
    proc.send_signal(signal.SIGTERM)
    status, _, err = finish(proc)
    assert status == 42, err


def test_the_rank_status_and_output_come_back_and_the_files_go(setup):
    status, out, err = finish(setup.start("echo out; echo err >&2; exit 7"))
    assert (status, out, err) == (7, "out\n", "err\n")
    files = Path(setup.read("files").strip())
    assert files.parent == setup.run_dir and not files.exists()


def test_a_rank_we_may_not_signal_is_reached_through_podman_kill(setup):
    if os.geteuid() != 0:
        pytest.skip("needs root: the wrapper runs as nobody, beside a root-owned process")
    nobody = pwd.getpwnam("nobody")
    # The pid file names a root-owned sleep (as a subordinate uid would be owned):
    # the wrapper, as nobody, gets EPERM and asks `podman kill --cidfile` instead.
    decoy = subprocess.Popen(["sleep", "120"])
    try:
        proc = setup.start(RANK, ("setpriv", f"--reuid={nobody.pw_uid}",
                                  f"--regid={nobody.pw_gid}", "--clear-groups", "--"),
                           STUB_FAKE_PID=str(decoy.pid))
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        status, out, err = finish(proc)
        assert decoy.poll() is None  # never signalled
    finally:
        decoy.kill()
        decoy.wait()
    assert status == 42, err
    assert out.split() == ["got-term"]
    assert setup.read("kill").split()[:3] == ["kill", "--signal", str(int(signal.SIGTERM))]


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_typed_at_a_terminal_podman_may_write_to_it(setup):
    # Under `stty tostop` a background process group that writes to the terminal is
    # stopped: podman must share the wrapper's group there, or the rank's output hangs.
    wrapper = shlex.join([sys.executable, "-m", "wrap.cli", "--runtime", str(setup.stub),
                          "--no-cwd-mount", "sh", "-c", "echo typed; exit 5"])
    environ = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO),
               "XDG_RUNTIME_DIR": str(setup.run_dir), "MPI_IMAGE": "localhost/app:1"}
    proc = subprocess.run(["script", "-qec", f"stty tostop; {wrapper}", "/dev/null"],
                          env=environ, cwd=setup.root, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "typed" in proc.stdout
    pgid, _, parent_pgid = (int(word) for word in setup.read("podman").split())
    assert pgid == parent_pgid
