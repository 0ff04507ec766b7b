"""`make bench`: run every benchmark, each in its own process, and collect the summary lines.

Each benchmark module writes bench/results/<name>.json and prints one summary
line; this runner repeats those lines at the end so they are easy to find.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = ("kubexec", "guard", "wrap", "launch", "prterun", "detach", "scale", "prterun_ssh",
              "stream", "k8s")
# a benchmark that prints several summary lines (one per size) starts them so
MULTI = {"prterun_ssh": "prterun-ssh N="}


def main() -> int:
    summaries: list[str] = []
    failed: list[str] = []
    for name in BENCHMARKS:
        print(f"== bench.{name}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], stdout=subprocess.PIPE, text=True
        )
        sys.stdout.write(proc.stdout)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if proc.returncode != 0 or not lines:
            failed.append(name)
        else:
            prefix = MULTI.get(name)
            summaries.extend([line for line in lines if prefix and line.startswith(prefix)]
                             or lines[-1:])
    print("== summary")
    for line in summaries:
        print(line)
    for name in failed:
        print(f"bench.{name}: FAILED (see its output above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
