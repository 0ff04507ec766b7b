"""`kubexec`: an ssh-compatible rsh agent that runs commands in pods over the exec API.

    kubexec [ssh options] [--namespace NS] [--container C] [--no-guard] HOST [COMMAND...]

What callers get is ssh's contract: the command words are joined with spaces
and run by `/bin/sh -c` in the pod; stdin, stdout and stderr are forwarded
apart; the exit status is the remote one; failing to reach the pod prints one
line naming it and exits 255. Commands run under `kubexec-guard` so a killed
kubexec or a lost connection never leaves the remote tree running.

This entry point only picks the path, and imports nothing else before it has:
with `KUBEXEC_CONTROL_PERSIST` > 0, the call is handed to the user's warm
control master (launchers.kubexec.control.client), else, or when the master cannot be
used, launchers.kubexec.direct connects itself. Both run the same `main()`.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """kubexec ARGV...; without `argv` (the program itself) this ends the process."""
    if argv is None:
        sanitise_stdfd()
    status = _run(sys.argv[1:] if argv is None else argv)
    if argv is None:
        _exit(status)
    return status


def sanitise_stdfd() -> None:
    """OpenSSH's first step: a closed 0, 1 or 2 becomes /dev/null before we open anything,
    or the exec pipe, the master's socket or its lock would land there and be taken for
    stdio (`kubexec POD cmd <&-` sent the master its own socket as the command's stdin)."""
    for fd, stream in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            os.set_inheritable(os.open(os.devnull, os.O_RDWR), True)  # the lowest free fd: fd
            setattr(sys, stream, open(fd, "w" if fd else "r", closefd=False))  # noqa: SIM115


def _run(args: list[str]) -> int:
    persist = os.environ.get("KUBEXEC_CONTROL_PERSIST", "")
    note = ""
    if persist.strip() not in ("", "0"):
        from launchers.kubexec.control import client as control_client

        status = control_client.run(args, persist)
        if status is not None:
            return status
        note = control_client.why_not
    from launchers.kubexec import direct

    return direct.main(args, master_note=note)


def _exit(status: int) -> None:
    """Flush stdio and leave without the interpreter's finalization: it and OpenSSL's atexit
    cleanup cost a direct call ~7 ms of CPU, and nothing of ours is left to run."""
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib costs the control client's path 2.5 ms
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: as the interpreter would
            pass
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
