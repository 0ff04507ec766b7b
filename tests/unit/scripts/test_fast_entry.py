"""scripts/fast-entry.py: lean entry points that find the same code without `site`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SPEC = importlib.util.spec_from_file_location("fast_entry", REPO / "scripts" / "fast-entry.py")
assert SPEC is not None and SPEC.loader is not None
fast_entry = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(fast_entry)


def test_script_text():
    text = fast_entry.entry_script("/v/bin/python", "tool", "pkg.mod:main", ["/v/site", "/src"])
    assert text.splitlines()[0] == "#!/v/bin/python -IS"  # one word: the kernel passes one
    assert "sys.path.extend(['/v/site', '/src'])" in text
    assert text.rstrip().endswith("from pkg.mod import main\nsys.exit(main())")


def test_site_paths_are_what_site_adds():
    paths = fast_entry.site_paths(sys.executable)
    assert any(p.endswith("site-packages") for p in paths)
    assert not set(paths) & set(subprocess.check_output(
        [sys.executable, "-IS", "-c", "import sys; print(sys.path)"], text=True))


def test_written_entry_runs_the_tool_and_ignores_pythonpath(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    assert fast_entry.main([str(bin_dir), "wrap-container", "wrap.cli:main"]) == 0
    entry = bin_dir / "wrap-container"
    assert os.access(entry, os.X_OK)
    shadow = tmp_path / "shadow" / "wrap"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    lean = subprocess.run([str(entry), "--help"], capture_output=True, text=True, env=env)
    full = subprocess.run([sys.executable, "-m", "wrap.cli", "--help"], capture_output=True,
                          text=True, cwd=REPO)
    assert lean.returncode == 0, lean.stderr
    assert lean.stdout == full.stdout and "wrap-container" in lean.stdout


def test_bad_target_and_usage():
    assert fast_entry.main(["/nowhere"]) == 2
    try:
        fast_entry.entry_script("/p", "x", "no-function", [])
    except SystemExit as exc:
        assert "MODULE:FUNCTION" in str(exc)
    else:
        raise AssertionError("a target without :FUNCTION was accepted")
