"""The errors wrap-container can meet, one class per cause a user must act on.

    WrapError                 base; `exit_status` is what the CLI exits with
    ├── BadSettingError       an option or variable that cannot be honoured   (112)
    ├── NoRuntimeError        neither podman nor docker found, or not the one asked for (113)
    ├── NoImageError          no --image and no MPI_IMAGE                     (114)
    ├── ImageMissingError     the image is not in the local store: pull it    (115)
    ├── FuseMissingError      unprivileged profile without a usable /dev/fuse (116)
    └── PrrteNotFoundError    prun injection without a PRRTE install to mount (117)

The statuses sit below the runtime's own 125 (runtime failed), 126 (cannot
invoke) and 127 (not found) and above common application codes, so a launcher
can tell a wrapper failure from the rank's status without parsing messages.
"""

from __future__ import annotations


class WrapError(Exception):
    """Base of every error wrap-container reports; the message is one line."""

    exit_status = 111


class BadSettingError(WrapError):
    exit_status = 112


class NoRuntimeError(WrapError):
    exit_status = 113


class NoImageError(WrapError):
    exit_status = 114


class ImageMissingError(WrapError):
    exit_status = 115


class FuseMissingError(WrapError):
    exit_status = 116


class PrrteNotFoundError(WrapError):
    exit_status = 117
