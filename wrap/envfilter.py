"""Which of the caller's variables a rank receives.

Only what a PMIx client and Open MPI read is forwarded by default: the
caller's environment on a compute pod also holds service-account tokens,
kubeconfig paths and ssh agent sockets, which must stay out of the rank.
Users add more with `--env NAME`, `--env NAME=VALUE`, `--env 'PREFIX*'`
(a shell-style pattern over the caller's names) or the same words,
space-separated, in WRAP_ENV.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing costs milliseconds per rank
    from typing import Iterable, Mapping


# PMIX_*: server URIs, namespace, rank, tmpdirs, security and gds modules;
# OMPI_*: ranks/sizes, file location, MCA settings; OPAL_*: OPAL_PREFIX and
# the "params given" marker; PRTE_*: what the launcher tells its children.
DEFAULT_PREFIXES = ("PMIX_", "OMPI_", "OPAL_", "PRTE_")

_GLOB_CHARS = frozenset("*?[")


def extra_specs(option_specs: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """The user's additions: WRAP_ENV's words first, so --env can override them."""
    return environ.get("WRAP_ENV", "").split() + list(option_specs)


def forwarded_env(environ: Mapping[str, str], specs: Iterable[str]) -> dict[str, str]:
    """Name -> value of every variable the rank gets, in name order.

    A spec with `=` sets a value (even one the caller lacks); a pattern
    selects the caller's matching names; a plain name forwards it when set.
    """
    chosen = {name: value for name, value in environ.items() if name.startswith(DEFAULT_PREFIXES)}
    for spec in specs:
        if not spec:
            continue
        name, sep, value = spec.partition("=")
        if sep:
            chosen[name] = value
        elif _GLOB_CHARS & set(spec):
            from fnmatch import fnmatchcase  # only for patterns: it imports re

            chosen.update({n: v for n, v in environ.items() if fnmatchcase(n, spec)})
        elif spec in environ:
            chosen[spec] = environ[spec]
    return dict(sorted(chosen.items()))
