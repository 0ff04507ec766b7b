"""kubexec's command line: ssh's, plus a few long options of our own.

PRRTE (and users' scripts) call the rsh agent as they would call ssh, so every
ssh option must be accepted, even those that mean nothing for the exec API.
Parsed by hand like ssh's getopt: bundled flags (`-xT`), attached values
(`-p22`, `-oK=V`), options after HOST until the first word of the command.

Meaningful here: `-n` (stdin from /dev/null), `-q` (quiet), `-v` (debug lines
on stderr), `-o ConnectTimeout=N`, and `-l USER`/`user@` (accepted; the pod's
user runs the command). `-c` keeps ssh's meaning (a cipher, ignored), so the
container is chosen with the long option `--container` instead; likewise
`--namespace` since `-n` is ssh's.
"""

from __future__ import annotations

from typing import Optional, Sequence

# ssh's single-letter options: flags, and those that take a value.
SSH_FLAGS = set("46AaCfGgKkMNnqsTtVvXxYy")
SSH_WITH_VALUE = set("BbcDEeFIiJLlmOoPpQRSWw")

# Our long options: those taking a value, and flags.
LONG_WITH_VALUE = ("--namespace", "--container", "--kubeconfig", "--context", "--guard")
LONG_FLAGS = ("--no-guard", "--help", "--version")


class UsageError(ValueError):
    """The command line cannot be understood."""


class Options:
    """What the command line asked for (a plain class: dataclasses cost ~15 ms to import)."""

    def __init__(self) -> None:
        self.host = ""
        self.command: list[str] = []
        self.namespace: Optional[str] = None
        self.container: Optional[str] = None
        self.kubeconfig: Optional[str] = None
        self.context: Optional[str] = None
        self.guard: Optional[str] = None
        self.no_guard = False
        self.no_stdin = False
        self.quiet = False
        self.verbose = 0
        self.user: Optional[str] = None
        self.connect_timeout: Optional[float] = None
        self.ssh_options: dict[str, str] = {}
        self.help = False
        self.version = False

    @property
    def remote_command(self) -> list[str]:
        """ssh semantics: the words joined by single spaces, run by the remote shell."""
        if not self.command:
            return ["/bin/sh"]
        return ["/bin/sh", "-c", " ".join(self.command)]


def _ssh_option(opts: Options, letter: str, value: Optional[str]) -> None:
    if letter == "n":
        opts.no_stdin = True
    elif letter == "q":
        opts.quiet = True
    elif letter == "v":
        opts.verbose += 1
    elif letter == "l":
        opts.user = value
    elif letter == "o" and value is not None:
        key, _, val = value.replace("=", " ", 1).partition(" ")
        key, val = key.strip(), val.strip()
        opts.ssh_options[key.lower()] = val
        if key.lower() == "connecttimeout":
            try:
                opts.connect_timeout = float(val)
            except ValueError as exc:
                raise UsageError(f"bad ConnectTimeout value {val!r}") from exc


def _long(opts: Options, args: Sequence[str], i: int) -> int:
    """Handle the long option at args[i]; returns the index after it."""
    arg = args[i]
    name, eq, value = arg.partition("=")
    if name in LONG_FLAGS:
        if eq:
            raise UsageError(f"option {name} takes no value")
        attr = name[2:].replace("-", "_")
        setattr(opts, attr, True)
        return i + 1
    if name not in LONG_WITH_VALUE:
        raise UsageError(f"unknown option {name}")
    if not eq:
        if i + 1 >= len(args):
            raise UsageError(f"option {name} needs a value")
        value, i = args[i + 1], i + 1
    setattr(opts, name[2:], value)
    return i + 1


def _short(opts: Options, args: Sequence[str], i: int) -> int:
    """Handle a bundle like `-xT`, `-p22`, `-o K=V`; returns the index after it."""
    arg = args[i]
    for pos in range(1, len(arg)):
        letter = arg[pos]
        if letter in SSH_FLAGS:
            _ssh_option(opts, letter, None)
        elif letter in SSH_WITH_VALUE:
            value = arg[pos + 1 :]
            if not value:
                if i + 1 >= len(args):
                    raise UsageError(f"option -{letter} needs a value")
                value, i = args[i + 1], i + 1
            _ssh_option(opts, letter, value)
            return i + 1
        else:
            raise UsageError(f"unknown option -{letter}")
    return i + 1


def parse_args(args: Sequence[str]) -> Options:
    """`[options] [user@]HOST [options] [COMMAND...]`, ssh's grammar."""
    opts = Options()
    i = 0
    host_given = False  # an empty HOST ("") is still the HOST word: refused, not skipped
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            if not host_given and i < len(args):
                opts.host, i, host_given = args[i], i + 1, True
            break
        if arg.startswith("--"):
            i = _long(opts, args, i)
        elif arg.startswith("-") and len(arg) > 1:
            i = _short(opts, args, i)
        elif not host_given:
            opts.host, i, host_given = arg, i + 1, True
        else:
            break
        if opts.help or opts.version:
            return opts
    opts.command = list(args[i:])
    if not host_given:
        raise UsageError("no host given")
    if not opts.host.strip() or not opts.host.rsplit("@", 1)[-1].strip():
        raise UsageError("empty host name")
    if "@" in opts.host:
        user, opts.host = opts.host.rsplit("@", 1)
        opts.user = opts.user or user
    return opts
