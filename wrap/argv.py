"""The argument builder: (environment, options, host) -> the runtime command line.

Pure: no I/O, no clock, no globals read; everything it needs is in its three
inputs, so every profile and runtime is tested by equality.
"""

from __future__ import annotations

import posixpath

from . import envfilter, mounts
from .errors import (
    BadSettingError,
    FuseMissingError,
    NoImageError,
    NoRuntimeError,
    PrrteNotFoundError,
)
from .settings import (
    CID_FILE,
    ENV_FILE,
    PID_FILE,
    PROFILES,
    PULL_POLICIES,
    USERNS_MODES,
    Host,
    Options,
    Plan,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Mapping, Optional, Sequence

FUSE_DEVICE = "/dev/fuse"
# The PMIx server URI variables the PMIx versions in the field look for.
SERVER_URI_VARS = (
    "PMIX_SERVER_URI",
    "PMIX_SERVER_URI2",
    "PMIX_SERVER_URI21",
    "PMIX_SERVER_URI3",
    "PMIX_SERVER_URI4",
    "PMIX_SERVER_URI41",
)
# Launcher names resolved inside the injected PRRTE prefix (the app image's
# PATH does not know it).
PRRTE_TOOLS = frozenset({"prun", "prterun", "prte", "pterm", "mpirun", "mpiexec"})


def _setting(given: Optional[str], environ: Mapping[str, str], var: str, default: str,
             allowed: Sequence[str]) -> str:
    value = given if given is not None else (environ.get(var) or default)
    if value not in allowed:
        raise BadSettingError(f"{var}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _runtime(options: Options, environ: Mapping[str, str], host: Host) -> tuple[str, str]:
    """(kind, path) of the container runtime: podman preferred, docker otherwise."""
    wanted = options.runtime if options.runtime is not None else environ.get("WRAP_RUNTIME", "")
    wanted = wanted or "auto"
    if wanted == "auto":
        for name in ("podman", "docker"):
            path = host.which.get(name)
            if path:
                return name, path
        raise NoRuntimeError(
            "no container runtime found on PATH: install podman (preferred) or docker, "
            "or name one with --runtime / WRAP_RUNTIME"
        )
    path = host.which.get(wanted)
    if not path:
        raise NoRuntimeError(f"container runtime {wanted!r} not found (--runtime / WRAP_RUNTIME)")
    # a path or a renamed binary: its name says which command-line dialect it speaks
    kind = "docker" if "docker" in posixpath.basename(wanted) else "podman"
    return kind, path


def _userns(mode: str, kind: str, host: Host) -> list[str]:
    """Map the rank to the caller's uid so the files it writes stay the caller's."""
    rootless = host.uid != 0
    if mode == "auto":
        if kind == "podman" and rootless:
            mode = "keep-id"
        elif rootless:
            mode = "user"
        else:
            mode = "none"
    if mode == "keep-id":
        if kind != "podman" or not rootless:
            raise BadSettingError("--userns keep-id needs rootless podman; use --userns user")
        # our uid/gid inside map to our uid/gid outside (podman adds a passwd entry).
        # --user too: an image's USER (the paper's images run as their own mpiuser)
        # would otherwise win, and its uid maps to a subordinate id outside, which
        # the PMIx server's peer-credential check rejects: MPI_Init then waits forever.
        return ["--userns=keep-id", f"--user={host.uid}:{host.gid}"]
    if mode == "user":
        # the runtime's default user is root; run as the caller instead
        return [f"--user={host.uid}:{host.gid}"]
    return []


def _image(options: Options, environ: Mapping[str, str]) -> str:
    image = options.image or environ.get("MPI_IMAGE", "")
    if not image:
        raise NoImageError(
            "no image to run: pass --image IMAGE or set MPI_IMAGE (under prterun add -x MPI_IMAGE)"
        )
    return image


def _container_args(environ: Mapping[str, str]) -> list[str]:
    if not environ.get("CONTAINER_ARGS", "").strip():
        return []
    import shlex  # only when there is something to split

    try:
        return shlex.split(environ.get("CONTAINER_ARGS", ""))
    except ValueError as exc:
        raise BadSettingError(f"CONTAINER_ARGS cannot be split like a shell would: {exc}") from exc


def _prrte_prefix(options: Options, environ: Mapping[str, str], host: Host) -> str:
    prefix = options.prrte_prefix or environ.get("PRTE_PREFIX") or host.prrte_prefix
    if not prefix or not prefix.startswith("/"):
        raise PrrteNotFoundError(
            "prun injection needs the PRRTE install to mount: pass --prrte-prefix DIR, "
            "set PRTE_PREFIX, or put prte on PATH"
        )
    return posixpath.normpath(prefix)


def build(environ: Mapping[str, str], options: Options, host: Host,
          command: Sequence[str]) -> Plan:
    """The runtime command that runs COMMAND as one rank, with everything it needs.

    Raises the WrapError subclasses of wrap.errors for anything the user must fix.
    """
    if not command:
        raise BadSettingError("no command to run in the container")
    kind, runtime = _runtime(options, environ, host)
    profile = _setting(options.profile, environ, "WRAP_PROFILE", "privileged", PROFILES)
    userns = _setting(options.userns, environ, "WRAP_USERNS", "auto", USERNS_MODES)
    pull = _setting(options.pull, environ, "WRAP_PULL", "never", PULL_POLICIES)
    image = _image(options, environ)

    overrides: dict[str, str] = {}
    ro_mounts: list[str] = []
    command = list(command)
    if options.inject_prrte:
        prefix = _prrte_prefix(options, environ, host)
        ro_mounts.append(prefix)
        overrides["PRTE_PREFIX"] = prefix
        if options.dvm_uri:
            overrides.update({name: options.dvm_uri for name in SERVER_URI_VARS})
        elif not any(environ.get(name) for name in SERVER_URI_VARS):
            raise BadSettingError(
                "prun injection needs the outer DVM's URI: start it with "
                "`prte --daemonize --report-uri FILE` and pass --dvm-uri FILE "
                "(or export PMIX_SERVER_URI41)"
            )
        if command[0] in PRRTE_TOOLS:
            command[0] = posixpath.join(prefix, "bin", command[0])

    specs = envfilter.extra_specs(options.env, environ)
    specs += [f"{name}={value}" for name, value in overrides.items()]
    forwarded = envfilter.forwarded_env(environ, specs)

    argv = [
        runtime,
        "run",
        "--rm",  # the container goes with the rank: nothing is left on the node
        "--network=host",  # the PMIx server and the TCP transport use the host's addresses
        "--uts=host",  # Open MPI and PMIx key node locality and shared memory on the hostname
        "--pid=host",  # the PMIx server tracks and signals its clients by host pid
        "--ipc=host",  # System V / POSIX shared memory between the ranks of a node
        "--volume=/dev/shm:/dev/shm",  # shared-memory transport files (btl/sm, gds/shmem2)
        "--cap-add=sys_ptrace",  # CMA single-copy (process_vm_readv) between local ranks
    ]
    if kind == "podman":
        # conmon would need a cgroup a rootless user cannot create on cgroup v1
        argv.append("--cgroups=no-conmon")
        # where podman says the rank's pid and container id: wrap.supervise signals
        # the rank through them rather than through podman's --sig-proxy
        argv += ["--pidfile", PID_FILE, "--cidfile", CID_FILE]
    argv += _userns(userns, kind, host)
    if profile == "unprivileged":
        if not host.fuse_usable:
            raise FuseMissingError(
                f"the unprivileged profile needs {FUSE_DEVICE}, which is missing or not "
                "usable here (in Kubernetes: a fuse device plugin resource on the pod)"
            )
        # The pod's podman mounts image layers with fuse-overlayfs (set in storage.conf,
        # never per run: containers/storage records a mount program in the store, so a
        # one-off --storage-opt converts the store for good). The rank gets the device
        # too, as in the paper's -unpriv variant, for FUSE mounts of its own.
        argv.append(f"--device={FUSE_DEVICE}")
    # ranks must not pull concurrently from every node: fail fast unless told otherwise
    argv.append(f"--pull={pull}")

    env_file = None
    if kind == "podman":
        # by name only: values come from the runtime's environment, never the command line
        argv += [f"--env={name}" for name in forwarded]
    else:
        # docker gets an env-file (0600, removed afterwards); a value with a newline
        # cannot be written there, so such a name is taken from docker's environment
        lines = [name if "\n" in value else f"{name}={value}" for name, value in forwarded.items()]
        env_file = "".join(line + "\n" for line in lines)
        argv += ["--env-file", ENV_FILE]

    rw_dirs = [d for d in mounts.named_dirs(forwarded, options.inject_prrte)
               if d in host.existing_dirs]
    cwd = posixpath.normpath(host.cwd)
    if options.mount_cwd:
        rw_dirs.append(cwd)
    argv += [mounts.volume(d, d) for d in mounts.outermost(rw_dirs)]
    argv += [mounts.volume(d, d, readonly=True) for d in ro_mounts]
    if options.mount_cwd:
        # relative paths in COMMAND mean what they meant outside (podman refuses a
        # workdir the container lacks, so without the mount the image's own applies)
        argv.append(f"--workdir={cwd}")
    argv += _container_args(environ)  # last, so users can override any of the above
    argv.append(image)
    argv += command

    runtime_env = dict(environ)
    runtime_env.update(forwarded)
    return Plan(
        kind=kind,
        runtime=runtime,
        image=image,
        argv=tuple(argv),
        env=runtime_env,
        forwarded=tuple(forwarded),
        env_file=env_file,
        check_image=(pull == "never"),
    )
