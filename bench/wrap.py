"""Benchmark: what wrap-container adds to starting one trivial rank.

Three ways to run `true` as one rank, interleaved, as the unprivileged podman
user: bare (no container), `podman run` with exactly the flags wrap-container
would use (taken from its --dry-run), and wrap-container itself (the common
no-option form, image from MPI_IMAGE). The figure that matters is the
median of the paired differences (each wrap-container run minus the podman
run just before it); goal: at most 15 ms.

podman's own jitter on a busy machine (+-100 ms) drowns a difference of a few
ms at 20 runs, so the same pair is also timed with a stand-in runtime: a
`podman` on PATH that is /bin/true, run by wrap-container and directly with the
flags wrap-container gives it. Their difference is exactly the wrapper's own
cost up to exec'ing the runtime (image check included: the store is real).

    python -m bench.wrap [--runs N]

Writes bench/results/wrap.json; the last line printed is the summary.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Mapping, Sequence

from bench.record import write_json
from wrap.localimage import write_rootfs

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "wrap.json"
SETUP = REPO / "scripts" / "setup-rootless-podman.sh"
VENV_BIN = Path(sys.executable).parent
USER = "mpiuser"
GOAL_MS = 15.0


class Runner:
    """Runs commands as the podman user (setpriv execs, so it costs the same for all)."""

    def __init__(self) -> None:
        if os.geteuid() == 0:
            subprocess.run(["bash", str(SETUP), USER], check=True, capture_output=True,
                           timeout=300)
            entry = pwd.getpwnam(USER)
            self.prefix = [
                "setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                "--init-groups", "--",
            ]
            home, uid = entry.pw_dir, entry.pw_uid
        else:  # already unprivileged: use our own rootless podman
            self.prefix = []
            home, uid = os.environ.get("HOME", "/"), os.geteuid()
            entry = pwd.getpwuid(uid)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.env = {
            "HOME": home,
            "XDG_RUNTIME_DIR": f"/run/user/{uid}",
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: str,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *argv], env={**self.env, **env}, cwd=cwd,
                              capture_output=True, text=True, timeout=300, check=check)

    def timed(self, argv: Sequence[str], env: Mapping[str, str], cwd: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run([*self.prefix, *argv], env={**self.env, **env}, cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=300, check=False)
        elapsed = (time.perf_counter() - start) * 1000.0
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(argv)} failed: {proc.stderr.decode().strip()}")
        return elapsed


CONSOLE_SCRIPT = """#!{python}
import sys
from wrap.cli import main
if __name__ == '__main__':
    sys.exit(main())
"""


def plain_install(folder: Path) -> str:
    """wrap-container as a regular (or compat-editable) install runs it: a venv whose
    site-packages names the source tree in a .pth, without the import-hook finder that
    setuptools' default editable install adds to every interpreter start."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    site = next((folder / "lib").glob("python*/site-packages"))
    (site / "kube_pmix_source.pth").write_text(f"{REPO}\n")
    script = folder / "bin" / "wrap-container"
    script.write_text(CONSOLE_SCRIPT.format(python=folder / "bin" / "python"))
    script.chmod(0o755)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055)
    return str(script)


def bare_runtime_argv(dry_run: str) -> list[str]:
    """The runtime's command line from --dry-run, without the --pidfile/--cidfile pair
    wrap-container fills in at run time (a bare run has no supervisor to read them;
    podman refuses a cidfile that exists, so a fixed path would fail the second run)."""
    argv = shlex.split(dry_run)
    for flag in ("--pidfile", "--cidfile"):
        if flag in argv:
            at = argv.index(flag)
            del argv[at:at + 2]
    return argv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each way (default 20)")
    args = parser.parse_args()
    if shutil.which("podman") is None:
        print("wrap: SKIPPED podman is not installed", file=sys.stderr)
        return 1
    runner = Runner()
    image = f"localhost/kube-pmix-wrap-bench:{uuid.uuid4().hex[:8]}"
    wrap = str(VENV_BIN / "wrap-container")
    with tempfile.TemporaryDirectory(prefix="wrap-bench-") as tmp:
        os.chmod(tmp, 0o755)
        tarball = Path(tmp) / "rootfs.tar"
        write_rootfs(tarball)
        tarball.chmod(0o644)
        job = Path(tmp) / "job"
        job.mkdir()
        os.chown(job, runner.uid, runner.gid)
        plain_wrap = plain_install(Path(tmp) / "venv")
        standin_bin = Path(tmp) / "standin-bin"
        standin_bin.mkdir()
        (standin_bin / "podman").symlink_to(shutil.which("true") or "/bin/true")
        standin_path = f"{standin_bin}:{runner.env['PATH']}"
        runner.run(["podman", "import", "-q", str(tarball), image], {}, tmp)
        try:
            env = {"MPI_IMAGE": image, "PMIX_RANK": "0"}
            dry = runner.run([wrap, "--dry-run", "true"], env, str(job)).stdout
            standin_env = {**env, "PATH": standin_path}
            standin_dry = runner.run([wrap, "--dry-run", "true"], standin_env, str(job)).stdout
            ways = {
                "bare": ["true"],
                # the interpreter alone: the floor under any Python wrapper
                "python_startup": [sys.executable, "-c", "pass"],
                # ... and as wrap-container's entry starts it (scripts/fast-entry.py)
                "python_lean_startup": [sys.executable, "-IS", "-c", "pass"],
                "podman": bare_runtime_argv(dry),
                "wrap": [wrap, "true"],
                "wrap_with_options": [wrap, "--image", image, "true"],
                "wrap_plain_install": [plain_wrap, "true"],
                "standin": bare_runtime_argv(standin_dry),
                "wrap_standin": [wrap, "true"],
                "wrap_standin_with_options": [wrap, "--image", image, "true"],
            }
            envs = {name: standin_env if "standin" in name else env for name in ways}
            for name, argv in ways.items():  # warm caches once
                runner.timed(argv, envs[name], str(job))
            samples: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.runs):
                for name, argv in ways.items():
                    samples[name].append(runner.timed(argv, envs[name], str(job)))
            leftovers = runner.run(["podman", "ps", "-a", "-q"], {}, tmp).stdout.split()
        finally:
            runner.run(["podman", "rmi", "-f", image], {}, tmp, check=False)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    # podman's own jitter (tens of ms) dwarfs the difference: compare each wrap run
    # with the podman run just before it, and take the median of those differences
    paired = [w - p for w, p in zip(samples["wrap"], samples["podman"])]
    overhead = statistics.median(paired)
    to_exec = statistics.median(
        [w - p for w, p in zip(samples["wrap_standin"], samples["standin"])])
    result = {
        "runs": args.runs,
        "median_ms": {name: round(value, 1) for name, value in medians.items()},
        "samples_ms": {name: [round(v, 1) for v in values] for name, values in samples.items()},
        "wrap_minus_podman_ms": round(overhead, 1),
        "wrap_minus_podman_of_medians_ms": round(medians["wrap"] - medians["podman"], 1),
        "wrap_minus_podman_of_minima_ms": round(min(samples["wrap"]) - min(samples["podman"]), 1),
        "wrap_with_options_minus_podman_ms": round(statistics.median(
            [w - p for w, p in zip(samples["wrap_with_options"], samples["podman"])]), 1),
        "python_startup_ms": round(medians["python_startup"], 1),
        "python_lean_startup_ms": round(medians["python_lean_startup"], 1),
        # what is ours in wrap_to_exec: the rest is the interpreter's own start
        "wrap_to_exec_minus_interpreter_ms": round(
            to_exec - (medians["python_lean_startup"] - medians["bare"]), 1),
        "wrap_plain_install_minus_podman_ms": round(statistics.median(
            [w - p for w, p in zip(samples["wrap_plain_install"], samples["podman"])]), 1),
        "wrap_to_exec_ms": round(to_exec, 1),
        "wrap_with_options_to_exec_ms": round(statistics.median(
            [w - p for w, p in zip(samples["wrap_standin_with_options"], samples["standin"])]), 1),
        "goal_ms": GOAL_MS,
        "goal_met": to_exec <= GOAL_MS,
        "containers_left": len(leftovers),
        "podman_argv": ways["podman"],
    }
    write_json(RESULTS, result)
    for name, value in medians.items():
        print(f"  {name:18s} median {value:7.1f} ms over {args.runs} runs")
    print(f"wrap: wrap-container_minus_podman_ms={overhead:.1f} wrap_to_exec_ms={to_exec:.1f} "
          f"python_startup_ms={medians['python_startup']:.1f} "
          f"python_lean_startup_ms={medians['python_lean_startup']:.1f} "
          f"podman_ms={medians['podman']:.1f} bare_ms={medians['bare']:.1f}")
    return 0 if not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())
