"""Writing a benchmark's results: one JSON file, stamped with the machine and the date.

Figures from a shared 2-core machine mean little without the load they were
taken under, so every result file carries it.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load": os.getloadavg(),
            "python": platform.python_version()}


def write_json(path: Path, result: dict[str, Any]) -> None:
    """`result` plus "machine" and "date", to `path` (its folder made when missing)."""
    stamped = {**result, "machine": machine(),
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stamped, indent=2) + "\n")
