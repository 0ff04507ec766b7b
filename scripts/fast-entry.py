"""Write a start-up-lean entry point for a per-rank or per-daemon tool.

    PYTHON scripts/fast-entry.py BIN_DIR NAME MODULE:FUNCTION [NAME MODULE:FUNCTION ...]

pip's console scripts start a full interpreter: `site` scans site-packages,
runs every .pth file (setuptools' distutils hack, the editable install's path
entry) and imports sitecustomize. That is ~6 ms of the ~14-20 ms a tool costs
to start here, paid once per rank by wrap-container and once per daemon by
kubexec. The script written here runs `PYTHON -IS` instead and puts back
only the path entries `site` would have added, resolved now, at install time:
the same modules are found, nothing else runs. `-I` also keeps PYTHON*
variables and the user's site directory from changing what a launcher runs.

Run it with the environment's own interpreter, after pip (which rewrites its
scripts on every install): the Makefile and the images' Containerfile do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

TEMPLATE = """#!{python} -IS
# Written by scripts/fast-entry.py: {name} without `site` (see there why).
import sys
sys.path.extend({paths!r})
from {module} import {function}
sys.exit({function}())
"""


def site_paths(python: str) -> list[str]:
    """The entries `site` adds to `python`'s path, in its order."""
    here = os.path.dirname(os.path.abspath(__file__))
    probe = "import json, sys; print(json.dumps(sys.path))"
    bare = json.loads(subprocess.check_output([python, "-I", "-S", "-c", probe], text=True))
    full = json.loads(subprocess.check_output([python, "-I", "-c", probe], text=True))
    return [p for p in full if p and p not in bare and p != here]


def entry_script(python: str, name: str, target: str, paths: list[str]) -> str:
    module, _, function = target.partition(":")
    if not module or not function.isidentifier():
        raise SystemExit(f"fast-entry: {target!r} is not MODULE:FUNCTION")
    return TEMPLATE.format(python=python, name=name, paths=paths, module=module,
                           function=function)


def install(path: str, text: str) -> None:
    """Replace, never rewrite in place: a rank may be running the old file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or len(argv) % 2 == 0:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    bin_dir, pairs = os.path.abspath(argv[0]), argv[1:]
    python = os.path.join(bin_dir, "python")
    if not os.access(python, os.X_OK):
        python = sys.executable
    paths = site_paths(python)
    for name, target in zip(pairs[::2], pairs[1::2]):
        install(os.path.join(bin_dir, name), entry_script(python, name, target, paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
