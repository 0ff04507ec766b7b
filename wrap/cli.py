"""`wrap-container [OPTIONS] [--] COMMAND...`: run COMMAND as one MPI rank in a container.

The CLI only gathers inputs (options, environment, host), prints the command
with --dry-run or WRAP_DEBUG, and starts it; the command line itself comes
from the pure builder in wrap.argv. Every failure is one line on stderr and a
distinct exit status (see wrap.errors).

Speed: a launcher starts this once per rank. The common form under prterun,
`wrap-container COMMAND...` with settings in MPI_IMAGE / CONTAINER_ARGS /
WRAP_*, has no options to parse and goes straight to the builder; anything
starting with '-' goes through the hand parser of wrap.options (click's import
alone cost as much as all the rest).
"""

from __future__ import annotations

import os
import sys

from . import argv as argv_builder
from . import errors, imagestore
from .detect import detect
from .errors import BadSettingError, ImageMissingError, WrapError
from .settings import Options, Plan

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Mapping, Optional, Sequence

PROG = "wrap-container"

# One status per cause, below the runtime's own 125 (runtime failed), 126 (cannot
# invoke) and 127 (not found) and above common application codes, so a launcher can
# tell a wrapper failure from the rank's status without parsing messages.
EXIT_STATUS = {
    errors.WrapError: 111,
    errors.BadSettingError: 112,  # an option or variable that cannot be honoured
    errors.NoRuntimeError: 113,  # neither podman nor docker, or not the one asked for
    errors.NoImageError: 114,  # no --image and no MPI_IMAGE
    errors.ImageMissingError: 115,  # not in the local store: pull it
    errors.FuseMissingError: 116,  # unprivileged profile without a usable /dev/fuse
    errors.PrrteNotFoundError: 117,  # prun injection without a PRRTE install to mount
}


def _pull_hint(plan: Plan) -> str:
    runtime = os.path.basename(plan.runtime)
    return (
        f"image {plan.image} is not in {runtime}'s local store on {os.uname().nodename}: "
        f"pull it on every node first (`prterun --map-by ppr:1:node {runtime} pull "
        f"{plan.image}`), or pass --pull missing"
    )


def _ensure_image(plan: Plan) -> None:
    """Refuse early, with a pull hint, when podman would not find the image."""
    if not plan.check_image or plan.kind != "podman":
        return  # docker runs as our child: a missing image is diagnosed after it fails
    if imagestore.known_locally(plan.image, plan.env, os.geteuid()):
        return
    if not imagestore.exists(plan.runtime, plan.image, plan.env):
        raise ImageMissingError(_pull_hint(plan))


def _read_dvm_uri(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            uri = fh.readline().strip()
    except OSError as exc:
        raise BadSettingError(f"cannot read the DVM URI file {path}: {exc.strerror}") from exc
    if not uri:
        raise BadSettingError(f"the DVM URI file {path} is empty (prte --report-uri {path})")
    return uri


def execute(options: Options, command: Sequence[str], dry_run: bool = False,
            environ: Optional[Mapping[str, str]] = None) -> int:
    """Build the plan and run it; the rank's status (podman's or docker's)."""
    env = dict(os.environ if environ is None else environ)
    plan = argv_builder.build(env, options, detect(env, options), command)
    if dry_run or env.get("WRAP_DEBUG"):
        import shlex  # only when printing

        shown = shlex.join(plan.argv)  # with the placeholders of the runner's files
    if dry_run:
        print(shown)
        if plan.env_file is not None:
            for line in plan.env_file.splitlines():
                print(f"# env-file: {line.partition('=')[0]}")
        return 0
    if env.get("WRAP_DEBUG"):
        print(f"{PROG}: {shown}", file=sys.stderr, flush=True)
    from . import run  # imported late: nothing before needs it

    if plan.kind == "podman":
        _ensure_image(plan)
        sys.stdout.flush()
        from . import supervise

        return supervise.run_podman(plan)
    status = run.run_with_env_file(plan)
    # docker says 125 when it could not start the container: is the image missing?
    if status == 125 and plan.check_image and not imagestore.exists(
        plan.runtime, plan.image, plan.env
    ):
        raise ImageMissingError(_pull_hint(plan))
    return status


def _report(exc: WrapError) -> int:
    print(f"{PROG}: {exc}", file=sys.stderr)
    return next(EXIT_STATUS[cls] for cls in type(exc).__mro__ if cls in EXIT_STATUS)


def _with_options(args: Sequence[str]) -> int:
    """The form with options: parsed by hand (wrap.options), then the same execute."""
    from . import options as parser  # only when there are options

    try:
        parsed = parser.parse(args)
    except parser.UsageError as exc:
        print(f"{parser.USAGE}\nTry '{PROG} --help' for help.\n\nError: {exc}", file=sys.stderr)
        return 2
    if parsed is None:
        sys.stdout.write(parser.HELP)
        return 0
    dvm_uri_file = parsed.get("dvm_uri_file")
    options = Options(
        image=parsed.get("image"),
        runtime=parsed.get("runtime"),
        profile=parsed.get("profile"),
        userns=parsed.get("userns"),
        pull=parsed.get("pull"),
        env=parsed["env"],
        mount_cwd=not parsed.get("no_cwd_mount"),
        inject_prrte=bool(parsed.get("prun") or dvm_uri_file),
        prrte_prefix=parsed.get("prrte_prefix"),
        dvm_uri=_read_dvm_uri(dvm_uri_file) if dvm_uri_file else None,
    )
    return execute(options, parsed["command"], dry_run=bool(parsed.get("dry_run")))


def main(args: Optional[Sequence[str]] = None) -> int:
    """Console entry point: the rank's status, or the wrapper's own (2 for usage, 112-117)."""
    if args is None:
        _sanitise_stdfd()
    args = list(sys.argv[1:] if args is None else args)
    try:
        if args and not args[0].startswith("-"):
            return execute(Options(), args)
        return _with_options(args)
    except WrapError as exc:
        return _report(exc)


def _sanitise_stdfd() -> None:
    """As ssh: a closed 0, 1 or 2 is /dev/null before anything is opened, so that no pipe
    or env-file of ours lands there and is handed to the rank as its stdio."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if not _is_open(fd):
            os.set_inheritable(os.open(os.devnull, os.O_RDWR), True)  # the lowest free fd: fd
            if getattr(sys, name) is None:  # the interpreter found it closed
                setattr(sys, name, open(fd, "w" if fd else "r", closefd=False))  # noqa: SIM115


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
