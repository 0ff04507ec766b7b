#!/usr/bin/env python3
"""Print the failed and errored tests of JUnit reports, a line each.

`make test` runs two pytest sessions; CI keeps only the tail of the output,
which is the second session's. This puts both sessions' failures at the very
end, with the first line of each message, so a red run says what broke.
Exit status: 0 when every report is clean, 1 when one names a failure, 2 when
a report is missing or unreadable (the session died before writing it).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def failures(report: Path) -> list[str]:
    lines = []
    for case in ET.parse(report).getroot().iter("testcase"):
        for kind in ("failure", "error"):
            found = case.find(kind)
            if found is None:
                continue
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            message = (found.get("message") or "").strip().splitlines()
            first = message[0][:200] if message else ""
            lines.append(f"{kind.upper()} {name} - {first}")
    return lines


def main(argv: list[str]) -> int:
    status = 0
    for arg in argv:
        report = Path(arg)
        try:
            found = failures(report)
        except (OSError, ET.ParseError) as err:
            print(f"{report}: no readable report ({err})")
            status = 2
            continue
        if found:
            print(f"{report}: {len(found)} failed")
            print("\n".join(found))
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
