"""wrap-container: run one MPI rank in its own podman (or docker) container.

Public surface (pinned by tests/unit/wrap/test_public.py):
    build(environ, options, host, command) -> Plan   the pure argument builder
    detect(environ, options) -> Host                 what this machine offers
    Options, Host, Plan                              its inputs and output
    forwarded_env(environ, specs)                    which variables a rank gets
    WrapError and its subclasses                     one per cause (statuses: wrap.cli)
"""

from .argv import build
from .detect import detect
from .envfilter import DEFAULT_PREFIXES, forwarded_env
from .errors import (
    BadSettingError,
    FuseMissingError,
    ImageMissingError,
    NoImageError,
    NoRuntimeError,
    PrrteNotFoundError,
    WrapError,
)
from .settings import Host, Options, Plan

__all__ = [
    "DEFAULT_PREFIXES",
    "BadSettingError",
    "FuseMissingError",
    "Host",
    "ImageMissingError",
    "NoImageError",
    "NoRuntimeError",
    "Options",
    "Plan",
    "PrrteNotFoundError",
    "WrapError",
    "build",
    "detect",
    "forwarded_env",
]
