"""The three inputs of the argument builder and its output, as plain records.

Options are what the user asked for on the command line (None: take the
WRAP_* variable, then the default); Host is what this machine offers, gathered
once by `wrap.detect`; Plan is what to run. Keeping them data-only lets the
builder be a pure function tested by equality.

Plain slotted classes rather than dataclasses or NamedTuples: a launcher
starts wrap-container once per rank, and importing dataclasses (with inspect)
or typing costs 14-20 ms of a ~20 ms interpreter start. Treat them as read-only.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported at run time
    from typing import Any, FrozenSet, Mapping, Optional, Tuple, TypeVar

    R = TypeVar("R", bound="_Record")

PROFILES = ("privileged", "unprivileged")
USERNS_MODES = ("auto", "keep-id", "user", "none")
PULL_POLICIES = ("never", "missing", "always")

# Mark where the paths of files made by the runner, after the pure builder has
# finished, go in Plan.argv: docker's env-file; the files podman writes the
# rank's pid and container id to (wrap.supervise signals the rank through them).
ENV_FILE = "<env-file>"
PID_FILE = "<pid-file>"
CID_FILE = "<cid-file>"
RUN_FILES = (ENV_FILE, PID_FILE, CID_FILE)


class _Record:
    """Equality, repr and _replace over __slots__, as a NamedTuple would give."""

    __slots__: Tuple[str, ...] = ()

    def _fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._fields() == other._fields()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable in principle: not a dict key

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self._fields().items())
        return f"{type(self).__name__}({inner})"

    def _replace(self: R, **changes: Any) -> R:
        return type(self)(**{**self._fields(), **changes})


class Options(_Record):
    """What the user asked for; None means: the WRAP_* variable, else the default."""

    __slots__ = ("image", "runtime", "profile", "userns", "pull", "env", "mount_cwd",
                 "inject_prrte", "prrte_prefix", "dvm_uri")

    def __init__(
        self,
        image: Optional[str] = None,  # else MPI_IMAGE
        runtime: Optional[str] = None,  # auto | podman | docker | a path; else WRAP_RUNTIME
        profile: Optional[str] = None,  # privileged | unprivileged; else WRAP_PROFILE
        userns: Optional[str] = None,  # auto | keep-id | user | none; else WRAP_USERNS
        pull: Optional[str] = None,  # never | missing | always; else WRAP_PULL
        env: Tuple[str, ...] = (),  # NAME, NAME=VALUE or PATTERN*; WRAP_ENV adds more
        mount_cwd: bool = True,
        inject_prrte: bool = False,  # the FAQ's prun injection
        prrte_prefix: Optional[str] = None,  # else PRTE_PREFIX, else found on PATH
        dvm_uri: Optional[str] = None,  # URI text of the outer DVM (first line of its file)
    ) -> None:
        self.image = image
        self.runtime = runtime
        self.profile = profile
        self.userns = userns
        self.pull = pull
        self.env = tuple(env)
        self.mount_cwd = mount_cwd
        self.inject_prrte = inject_prrte
        self.prrte_prefix = prrte_prefix
        self.dvm_uri = dvm_uri


class Host(_Record):
    """What this machine offers, as far as the builder needs to know."""

    __slots__ = ("which", "uid", "gid", "cwd", "existing_dirs", "fuse_usable", "prrte_prefix")

    def __init__(
        self,
        which: Mapping[str, Optional[str]],  # program name or path -> its path (None: absent)
        uid: int,
        gid: int,
        cwd: str,
        existing_dirs: FrozenSet[str] = frozenset(),  # those of the dirs the env names
        fuse_usable: bool = False,  # /dev/fuse exists and we may open it
        prrte_prefix: Optional[str] = None,  # install prefix of the prte found on PATH
    ) -> None:
        self.which = which
        self.uid = uid
        self.gid = gid
        self.cwd = cwd
        self.existing_dirs = frozenset(existing_dirs)
        self.fuse_usable = fuse_usable
        self.prrte_prefix = prrte_prefix


class Plan(_Record):
    """The runtime command line and what goes with it."""

    __slots__ = ("kind", "runtime", "image", "argv", "env", "forwarded", "env_file",
                 "check_image")

    def __init__(
        self,
        kind: str,  # "podman" or "docker"
        runtime: str,  # path of the runtime program
        image: str,
        argv: Tuple[str, ...],  # may hold each of RUN_FILES once
        env: Mapping[str, str],  # environment to start the runtime with
        forwarded: Tuple[str, ...],  # names of the variables the rank receives
        env_file: Optional[str] = None,  # docker: env-file text, written 0600 by the runner
        check_image: bool = True,  # the image must already be in the local store
    ) -> None:
        self.kind = kind
        self.runtime = runtime
        self.image = image
        self.argv = tuple(argv)
        self.env = env
        self.forwarded = tuple(forwarded)
        self.env_file = env_file
        self.check_image = check_image

    def resolved_argv(self, files: Optional[Mapping[str, str]] = None) -> list[str]:
        """argv with each RUN_FILES placeholder replaced by the path `files` gives it.

        Only the first of each is a placeholder: the builder puts them before
        CONTAINER_ARGS and the command, whose words are the user's, whatever they say.
        """
        files = files or {}
        argv = list(self.argv)
        for mark in RUN_FILES:
            if mark in argv:
                if mark not in files:
                    raise ValueError(f"this plan needs the path of its {mark}")
                argv[argv.index(mark)] = files[mark]
        return argv
