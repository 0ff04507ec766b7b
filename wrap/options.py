"""wrap-container's option parser: by hand, because a launcher starts it once per rank.

click's import alone (with typing and enum) cost 13-30 ms per rank here, as much
as the rest of wrap-container; eleven options and a help text do not need it.
It follows click's rules, which the CLI used before: options end at the first
argument that is not one (or at `--`), `--opt value` and `--opt=value`, `-e
SPEC` and `-eSPEC`, repeated options (the last wins; `-e` adds up), choices
checked by name, --help wherever an option may be. `parse` is pure; the CLI
prints and exits.
"""

from __future__ import annotations

from .settings import PROFILES, PULL_POLICIES, USERNS_MODES

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Any, Optional, Sequence

USAGE = "Usage: wrap-container [OPTIONS] COMMAND..."

HELP = f"""{USAGE}

  Run COMMAND as one MPI rank in its own container (podman or docker).

Options:
  --image IMAGE                   Image to run the rank in [MPI_IMAGE].
  --runtime NAME|PATH             podman, docker, a path, or auto (podman
                                  preferred) [WRAP_RUNTIME].
  --profile [{'|'.join(PROFILES)}]
                                  privileged: podman may mount overlayfs;
                                  unprivileged: /dev/fuse must be usable and
                                  is passed, storage is fuse-overlayfs by
                                  storage.conf [WRAP_PROFILE].
  --userns [{'|'.join(USERNS_MODES)}]
                                  How files keep the caller's uid: keep-id
                                  (rootless podman), user (--user UID:GID),
                                  none; auto picks [WRAP_USERNS].
  --pull [{'|'.join(PULL_POLICIES)}]   never (default: fail fast with a hint when
                                  the image is missing), missing or always
                                  [WRAP_PULL].
  -e, --env SPEC                  Also forward NAME, set NAME=VALUE, or
                                  forward names matching 'PATTERN*'.
  --no-cwd-mount                  Neither mount nor enter the working
                                  directory (the image's applies).
  --prun                          prun injection: mount the PRRTE install and
                                  pass the outer DVM's PMIX_SERVER_URI* so a
                                  launcher inside the container uses it.
  --prrte-prefix DIR              PRRTE install to mount with --prun
                                  [PRTE_PREFIX, else prte on PATH].
  --dvm-uri FILE                  With --prun: the file `prte --report-uri
                                  FILE` wrote.
  --dry-run                       Print the runtime command and exit.
  -h, --help                      Show this message and exit.

  Environment:
    MPI_IMAGE       image to run when --image is not given
    CONTAINER_ARGS  extra runtime arguments, split like a shell, appended last
    WRAP_ENV        more variables to forward: NAME, NAME=VALUE or 'PREFIX*'
    WRAP_RUNTIME, WRAP_PROFILE, WRAP_USERNS, WRAP_PULL   defaults of the options
    WRAP_DEBUG      print the runtime command on stderr before running it

  Only PMIX_*, OMPI_*, OPAL_* and PRTE_* variables reach the rank; add others
  with --env or WRAP_ENV. Exit status: the rank's; 112-117 for wrapper errors.
"""

# option -> the key it sets; every one of these takes a value
_VALUED = {
    "--image": "image", "--runtime": "runtime", "--profile": "profile",
    "--userns": "userns", "--pull": "pull", "--env": "env", "-e": "env",
    "--prrte-prefix": "prrte_prefix", "--dvm-uri": "dvm_uri_file",
}
_FLAGS = {"--no-cwd-mount": "no_cwd_mount", "--prun": "prun", "--dry-run": "dry_run"}
_CHOICES = {"profile": PROFILES, "userns": USERNS_MODES, "pull": PULL_POLICIES}


class UsageError(ValueError):
    """A command line the parser refuses; the message is click's wording."""


def _is_option(arg: str) -> bool:
    return arg.startswith("-") and arg != "-"


def parse(args: Sequence[str]) -> Optional[dict[str, Any]]:
    """The parsed command line as a dict (keys of _VALUED/_FLAGS, `env` a tuple and
    `command` a list), or None when help was asked for."""
    found: dict[str, Any] = {"env": ()}
    i = 0
    while i < len(args) and _is_option(args[i]):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg in ("-h", "--help"):
            return None
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg[:2], "", arg[2:])
        if name in _FLAGS:
            if eq:
                raise UsageError(f"Option '{name}' does not take a value.")
            found[_FLAGS[name]] = True
            continue
        if name not in _VALUED:
            raise UsageError(f"No such option '{name}'.")
        if not eq and not value:
            if i >= len(args):
                raise UsageError(f"Option '{name}' requires an argument.")
            value = args[i]
            i += 1
        key = _VALUED[name]
        choices = _CHOICES.get(key)
        if choices is not None and value not in choices:
            listed = ", ".join(f"'{c}'" for c in choices)
            raise UsageError(f"Invalid value for '{name}': '{value}' is not one of {listed}.")
        found[key] = found["env"] + (value,) if key == "env" else value
    command = list(args[i:])
    if not command:
        raise UsageError("Missing argument 'COMMAND...'.")
    found["command"] = command
    return found
