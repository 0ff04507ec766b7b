"""The option parser of wrap-container (imported only when options are given)."""

from __future__ import annotations

from typing import Optional

import click

from .cli import _read_dvm_uri, _report, execute
from .errors import WrapError
from .settings import PROFILES, PULL_POLICIES, USERNS_MODES, Options

EPILOG = """\b
Environment:
  MPI_IMAGE       image to run when --image is not given
  CONTAINER_ARGS  extra runtime arguments, split like a shell, appended last
  WRAP_ENV        more variables to forward: NAME, NAME=VALUE or 'PREFIX*'
  WRAP_RUNTIME, WRAP_PROFILE, WRAP_USERNS, WRAP_PULL   defaults of the options
  WRAP_DEBUG      print the runtime command on stderr before running it

\b
Only PMIX_*, OMPI_*, OPAL_* and PRTE_* variables reach the rank; add others
with --env or WRAP_ENV. Exit status: the rank's; 112-117 for wrapper errors.
"""


@click.command(
    context_settings={"allow_interspersed_args": False, "help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.option("--image", metavar="IMAGE", help="Image to run the rank in [MPI_IMAGE].")
@click.option("--runtime", metavar="NAME|PATH",
              help="podman, docker, a path, or auto (podman preferred) [WRAP_RUNTIME].")
@click.option("--profile", type=click.Choice(PROFILES),
              help="privileged: podman may mount overlayfs; unprivileged: /dev/fuse must "
                   "be usable and is passed, storage is fuse-overlayfs by storage.conf "
                   "[WRAP_PROFILE].")
@click.option("--userns", type=click.Choice(USERNS_MODES),
              help="How files keep the caller's uid: keep-id (rootless podman), "
                   "user (--user UID:GID), none; auto picks [WRAP_USERNS].")
@click.option("--pull", type=click.Choice(PULL_POLICIES),
              help="never (default: fail fast with a hint when the image is missing), "
                   "missing or always [WRAP_PULL].")
@click.option("-e", "--env", "env", multiple=True, metavar="SPEC",
              help="Also forward NAME, set NAME=VALUE, or forward names matching 'PATTERN*'.")
@click.option("--no-cwd-mount", is_flag=True,
              help="Neither mount nor enter the working directory (the image's applies).")
@click.option("--prun", "inject_prrte", is_flag=True,
              help="prun injection: mount the PRRTE install and pass the outer DVM's "
                   "PMIX_SERVER_URI* so a launcher inside the container uses it.")
@click.option("--prrte-prefix", metavar="DIR",
              help="PRRTE install to mount with --prun [PRTE_PREFIX, else prte on PATH].")
@click.option("--dvm-uri", "dvm_uri_file", metavar="FILE",
              help="With --prun: the file `prte --report-uri FILE` wrote.")
@click.option("--dry-run", is_flag=True, help="Print the runtime command and exit.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def command(image: Optional[str], runtime: Optional[str], profile: Optional[str],
            userns: Optional[str], pull: Optional[str], env: tuple[str, ...],
            no_cwd_mount: bool, inject_prrte: bool, prrte_prefix: Optional[str],
            dvm_uri_file: Optional[str], dry_run: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND as one MPI rank in its own container (podman or docker)."""
    try:
        options = Options(
            image=image,
            runtime=runtime,
            profile=profile,
            userns=userns,
            pull=pull,
            env=env,
            mount_cwd=not no_cwd_mount,
            inject_prrte=inject_prrte or bool(dvm_uri_file),
            prrte_prefix=prrte_prefix,
            dvm_uri=_read_dvm_uri(dvm_uri_file) if dvm_uri_file else None,
        )
        status = execute(options, command, dry_run=dry_run)
    except WrapError as exc:
        status = _report(exc)
    raise SystemExit(status)
