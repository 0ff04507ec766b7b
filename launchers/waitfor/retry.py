"""Which API errors wait-for-pods retries, and how long it waits between tries (pure).

Transient: HTTP 429 and 5xx (with or without Retry-After), a connection refused,
reset or cut, a request that timed out. Everything else (401, 403, 404, 400, a
certificate that does not verify) will not change by asking again and fails at
once. A Retry-After is honoured, never shortened, and stretched by up to 20 %
so that many waiters told the same do not come back in step; without one the
delay grows exponentially from BASE to CAP with "equal jitter" (half fixed,
half random). The caller caps every delay by the time left to its deadline.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

BASE = 0.25
CAP = 8.0
RETRY_AFTER_STRETCH = 0.2
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
Random = Callable[[], float]


@dataclass(frozen=True)
class Transient:
    """A retryable failure: what to report, and the server's Retry-After if it sent one."""

    what: str
    retry_after: Optional[float] = None


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _header(headers: Any, name: str) -> Optional[str]:
    if not isinstance(headers, Mapping) and not hasattr(headers, "get"):
        return None
    value = headers.get(name)
    if value is None and hasattr(headers, "items"):
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    return None if value is None else str(value)


def _is_certificate_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if "CERTIFICATE_VERIFY_FAILED" in str(current) or "certificate verify failed" in str(
                current):
            return True
        reason = getattr(current, "reason", None)
        current = (reason if isinstance(reason, BaseException)
                   else current.__cause__ or current.__context__)
    return False


def is_api_exception(exc: BaseException) -> bool:
    """The Kubernetes client's ApiException or a subclass (ForbiddenException, ...), known by
    name so that this module does not import the client."""
    return any(cls.__name__ == "ApiException" for cls in type(exc).__mro__)


def classify(exc: BaseException) -> Optional[Transient]:
    """A Transient for an error worth retrying, None for one that is final."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and is_api_exception(exc):
        if status in TRANSIENT_STATUSES:
            reason = str(getattr(exc, "reason", "") or "").strip()
            retry_after = parse_retry_after(_header(getattr(exc, "headers", None), "Retry-After"))
            return Transient(f"HTTP {status} {reason}".strip(), retry_after)
        return None
    module = type(exc).__module__
    if isinstance(exc, (ConnectionError, TimeoutError)) or module.startswith("urllib3"):
        if _is_certificate_error(exc):
            return None
        return Transient(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, OSError) and not _is_certificate_error(exc):
        return Transient(f"{type(exc).__name__}: {exc}")
    return None


def delay(attempt: int, failure: Transient, rng: Random) -> float:
    """Seconds to wait before try number `attempt + 1` (attempt counts from 0)."""
    if failure.retry_after is not None:
        return failure.retry_after * (1 + RETRY_AFTER_STRETCH * rng())
    ceiling = min(CAP, BASE * 2 ** min(attempt, 16))
    return ceiling / 2 + rng() * ceiling / 2
