"""What a driver met -> our error tree: the one translation both drivers use at their edge.

Each driver wraps all its I/O in the one context manager here, `at_edge`, which
calls `translate`; nothing but launchers.exec.errors leaves it.
The phase decides what a failure means (and whether retry may try again):

    connect   TCP connect + TLS handshake; no request byte sent yet
    request   request sent, waiting for the answer (the command may start any time)
    session   after the 101: the command may be running

No asyncio here (kubexec imports this): the asyncio driver passes its timeout
type in `timeouts`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import ssl
from typing import Iterator

from launchers.exec.errors import (
    ConnectionFailed,
    ConnectionLost,
    KubeExecError,
    ProtocolError,
)

CONNECT, REQUEST, SESSION = "connect", "request", "session"

# Failures of connect/handshake that say "not now" rather than "never".
_TRANSIENT_ERRNOS = frozenset(
    (errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.EAGAIN)
)


def reason(exc: BaseException) -> str:
    """A short, lower-case reason for a socket/TLS failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({getattr(exc, 'verify_message', None) or exc})"
    if isinstance(exc, ssl.SSLEOFError):
        # the peer closed the TCP connection without TLS's close: a proxy or server that
        # gave up on the connection (a write timeout, a restart), not a TLS mismatch
        return "the server cut the connection (TCP closed without a TLS close)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({getattr(exc, 'reason', None) or exc})"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host ({exc.strerror or exc})"
    if isinstance(exc, OSError) and exc.errno and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return True  # the server dropped the handshake (overloaded, restarting)
    if isinstance(exc, (ssl.SSLError, socket.gaierror)):
        return False  # a protocol mismatch or a bad name does not cure itself
    return isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS


def translate(
    exc: BaseException,
    phase: str,
    target: str,
    server: str,
    timeouts: tuple[type[BaseException], ...] = (),
) -> KubeExecError:
    """The error of our tree that `exc`, met in `phase`, stands for."""
    if isinstance(exc, KubeExecError):
        exc.target = exc.target or target
        return exc
    if isinstance(exc, timeouts):
        # a wait that says how long it was: under load, that is what to raise
        waited = getattr(exc, "seconds", None)
        text = f"timed out after {waited:.3g} s" if waited else "timed out"
    else:
        text = reason(exc)
    if isinstance(exc, (OSError, *timeouts)):
        if phase == CONNECT:
            return ConnectionFailed(f"cannot reach API server {server}: {text}", target,
                                    transient=_transient(exc))
        if phase == REQUEST:
            return ConnectionFailed(f"no answer from API server {server}: {text}", target)
        return ConnectionLost(f"exec session broke: {text}", target)
    # Anything else is garbage our parsers did not foresee (or a bug): still ours to name.
    return ProtocolError(
        f"unexpected answer from API server {server}: {type(exc).__name__}: {exc}", target
    )


class Phase:
    """Where a connection is (CONNECT/REQUEST/SESSION): what a failure there means."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = CONNECT


@contextlib.contextmanager
def at_edge(phase: Phase, target: str, server: str,
            timeouts: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Wraps a driver's I/O: whatever it meets leaves as one of launchers.exec.errors.

    (asyncio's cancellation is a BaseException, not an Exception: it passes untouched.)
    """
    try:
        yield
    except KubeExecError as exc:
        exc.target = exc.target or target
        raise
    except Exception as exc:  # noqa: BLE001 - this is the edge: nothing else may leak
        raise translate(exc, phase.now, target, server, timeouts) from exc
