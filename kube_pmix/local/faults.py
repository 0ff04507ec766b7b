"""Fault injection: answer a share of `pods/exec` requests with 429 or 503 before the upgrade.

Real clusters do this under load: the apiserver's priority and fairness answers
429 with `Retry-After: 1`, a kubelet or proxy that is restarting answers 503
without one. Clients must retry both before the remote command has started.

Deterministic on purpose, so that tests can count (no RNG): request n (from 1)
is refused when floor(n * S) grows, S being the sum of the shares, so refusals
are evenly spread; the code is the one with the most unspent credit (each
code's credit grows by its share per request and loses 1 per refusal; on a tie
the smaller code). `{429: 0.1}` refuses requests 10, 20, 30, ...; `{429: 0.25,
503: 0.25}` refuses 2 (429), 4 (503), 6 (429), ... Over N requests each code
refuses its share of N, give or take one. The count is per cluster (one
daemon), across every pod and client.

Only WebSocket requests (GET) count. kubectl falls back to SPDY (a POST, which
this cluster never serves) after any refused upgrade; that POST gets the same
refusal again when it repeats a request refused in the last few seconds, so
kubectl prints the 429 or 503 and not the SPDY refusal.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from . import objects

EXEC_ERROR_CODES = (429, 503)
# what priority and fairness sends: clients wait this long before their retry
RETRY_AFTER_SECONDS = 1
# how long a refusal is remembered for kubectl's SPDY retry of the same request
FALLBACK_WINDOW = 5.0
Refusal = tuple[dict[str, Any], dict[str, str]]


class FaultSpecError(ValueError):
    """A malformed `CODE:SHARE` or a set of shares that cannot be honoured."""


def parse_exec_error(text: str) -> tuple[int, float]:
    """`"429:0.1"` -> (429, 0.1); codes 429 and 503 only, share in (0, 1]."""
    code_text, sep, share_text = text.partition(":")
    try:
        code, share = int(code_text), float(share_text)
    except ValueError:
        raise FaultSpecError(f"{text!r} is not CODE:SHARE (e.g. 429:0.1)") from None
    if not sep:
        raise FaultSpecError(f"{text!r} is not CODE:SHARE (e.g. 429:0.1)")
    check_exec_errors({code: share})
    return code, share


def check_exec_errors(errors: Mapping[int, float]) -> dict[int, float]:
    """The validated shares (a copy); raises FaultSpecError."""
    for code, share in errors.items():
        if code not in EXEC_ERROR_CODES:
            raise FaultSpecError(f"exec error code {code} is not one of "
                                 f"{', '.join(map(str, EXEC_ERROR_CODES))}")
        if not 0 < share <= 1:
            raise FaultSpecError(f"share {share:g} for {code} is not in (0, 1]")
    if sum(errors.values()) > 1 + 1e-9:
        raise FaultSpecError("the exec error shares add up to more than 1")
    return {int(c): float(s) for c, s in errors.items()}


def too_many_requests() -> dict[str, Any]:
    """The Status body priority and fairness answers with (sent with Retry-After: 1)."""
    return objects.status_failure(
        429, "TooManyRequests", "Too many requests, please try again later.",
        {"retryAfterSeconds": RETRY_AFTER_SECONDS})


def service_unavailable() -> dict[str, Any]:
    return objects.status_failure(503, "ServiceUnavailable", "service unavailable")


class ExecFaults:
    """Decides, request by request, whether an exec is refused and with which Status."""

    def __init__(self, errors: Optional[Mapping[int, float]] = None) -> None:
        self.shares = check_exec_errors(errors or {})
        self._credit = {code: 0.0 for code in self.shares}
        self._total = sum(self.shares.values())
        self._due = 0.0
        self.requests = 0
        self.refused: dict[int, int] = {code: 0 for code in self.shares}
        self._recent: dict[str, tuple[float, Refusal]] = {}

    def fallback(self, key: str) -> Optional[Refusal]:
        """The refusal a WebSocket request with this key got in the last seconds, once."""
        now = time.monotonic()
        self._recent = {k: v for k, v in self._recent.items() if v[0] > now - FALLBACK_WINDOW}
        found = self._recent.pop(key, None)
        return found[1] if found else None

    def next(self, key: str = "") -> Optional[Refusal]:
        """For a WebSocket exec request: None to serve it, else (Status body, extra headers).
        `key` names the request (token, path and query) for `fallback`."""
        refusal = self._decide()
        if refusal is not None and key:
            self._recent[key] = (time.monotonic(), refusal)
        return refusal

    def _decide(self) -> Optional[Refusal]:
        self.requests += 1
        if not self.shares:
            return None
        for code, share in self.shares.items():
            self._credit[code] += share
        self._due += self._total
        if self._due < 1 - 1e-9:  # 1e-9: 0.1 added ten times is 0.9999999999999999
            return None
        self._due -= 1
        code = max(self._credit, key=lambda c: (self._credit[c], -c))
        self._credit[code] -= 1
        self.refused[code] += 1
        if code == 429:
            return too_many_requests(), {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return service_unavailable(), {}
