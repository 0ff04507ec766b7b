"""When to try an exec (or GET) again, and how long to wait: pure, no I/O, no clock.

The rule (issue 8): only failures that happened *before the remote command may
have started* are retried, and only those that are transient:

- the TCP connect was refused or reset, or the TLS handshake failed (but not a
  certificate the CA does not vouch for: that will not change by waiting);
- the server answered the upgrade request with a complete HTTP response of
  429 or 5xx (the kubelet never saw the request), honouring `Retry-After`.

Once a 101 has been read, or the request was sent and the connection broke
before an answer came, the command may be running: never retried, so a daemon
is never started twice.

Delays: exponential backoff with full jitter (AWS' "Exponential Backoff And
Jitter"): attempt n waits uniform(0, min(cap, base * 2**n)); a Retry-After
longer than that wins. No attempt starts if its wait would end past the
deadline. Both drivers (blocking kubexec, asyncio launcher) use this module
and only supply the sleep.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

from launchers.exec.errors import ApiError, ConnectionFailed, KubeExecError, PodNotRunning

BASE = 0.1  # s: first backoff ceiling
CAP = 5.0  # s: largest backoff ceiling (a Retry-After may ask for more)


def _uniform01() -> float:
    """A float in [0, 1) from os.urandom: `random` costs kubexec an import."""
    return int.from_bytes(os.urandom(4), "big") / 2**32


def retryable_status(code: int) -> bool:
    """HTTP statuses that say "try later" when answered to a request the kubelet never got."""
    return code == 429 or 500 <= code <= 599


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date), or None.

    `now` is the wall-clock time (time.time()) the answer came, for the date form.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # rare form; email costs an import

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def backoff(attempt: int, rand: Callable[[], float] = _uniform01,
            base: float = BASE, cap: float = CAP) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**attempt)) for attempt 0, 1, 2, ..."""
    return rand() * min(cap, base * 2 ** min(attempt, 30))


def is_transient(exc: BaseException) -> bool:
    """A failure before the command may have started, that waiting may cure."""
    if isinstance(exc, PodNotRunning):
        return False  # a finished pod or a missing container: waiting will not start it
    if isinstance(exc, ApiError):
        return retryable_status(exc.code)
    return isinstance(exc, ConnectionFailed) and exc.transient


def next_delay(exc: KubeExecError, attempt: int, remaining: float,
               rand: Callable[[], float] = _uniform01) -> Optional[float]:
    """How long to sleep before attempt `attempt + 1`, or None: give up and raise `exc`.

    `remaining`: seconds left until the caller's deadline.
    """
    if not is_transient(exc):
        return None
    delay = backoff(attempt, rand)
    retry_after = exc.retry_after if isinstance(exc, ApiError) else None
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay if delay < remaining else None
