"""The errors wrap-container can meet, one class per cause a user must act on.

    WrapError                 base
    ├── BadSettingError       an option or variable that cannot be honoured
    ├── NoRuntimeError        neither podman nor docker found, or not the one asked for
    ├── NoImageError          no --image and no MPI_IMAGE
    ├── ImageMissingError     the image is not in the local store: pull it
    ├── FuseMissingError      unprivileged profile without a usable /dev/fuse
    └── PrrteNotFoundError    prun injection without a PRRTE install to mount

The library only says what went wrong; the CLI (wrap.cli.EXIT_STATUS) chooses
the exit status of each.
"""

from __future__ import annotations


class WrapError(Exception):
    """Base of every error wrap-container reports; the message is one line."""


class BadSettingError(WrapError):
    pass


class NoRuntimeError(WrapError):
    pass


class NoImageError(WrapError):
    pass


class ImageMissingError(WrapError):
    pass


class FuseMissingError(WrapError):
    pass


class PrrteNotFoundError(WrapError):
    pass
