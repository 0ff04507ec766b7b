"""wait-for-pods' retry rules, on plain exceptions (no server, no client)."""

from __future__ import annotations

import email.utils

import pytest
import urllib3.exceptions

from launchers.waitfor.retry import CAP, Transient, classify, delay, parse_retry_after


class ApiException(Exception):  # the client's class is known by name
    def __init__(self, status: int, reason: str = "", headers=None) -> None:
        super().__init__(status)
        self.status, self.reason, self.headers = status, reason, headers


class ForbiddenException(ApiException):  # kubernetes 30+ raises subclasses per status
    pass


@pytest.mark.parametrize(("exc", "retry_after"), [
    (ApiException(429, "Too Many Requests", {"Retry-After": "1"}), 1.0),
    (ApiException(503, "Service Unavailable"), None),
    (ApiException(500), None),
    (ApiException(504, "", {"retry-after": "2"}), 2.0),
    (urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104))
     , None),
    (urllib3.exceptions.NewConnectionError(None, "Connection refused"), None),
    (ConnectionRefusedError(111, "Connection refused"), None),
    (urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out"), None),
])
def test_transient_errors(exc, retry_after):
    failure = classify(exc)
    assert failure is not None and failure.retry_after == retry_after


@pytest.mark.parametrize("exc", [
    ApiException(401, "Unauthorized"), ForbiddenException(403, "Forbidden"), ApiException(404),
    ApiException(400), ValueError("not an API error"),
    urllib3.exceptions.MaxRetryError(None, "/api", urllib3.exceptions.SSLError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")),
])
def test_final_errors(exc):
    assert classify(exc) is None


def test_retry_after_seconds_and_dates():
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = email.utils.formatdate(1000.0 + 7, usegmt=True)
    assert parse_retry_after(later, now=1000.0) == pytest.approx(7, abs=1)


def test_retry_after_is_honoured_and_only_stretched():
    told = Transient("HTTP 429", 2.0)
    assert delay(0, told, lambda: 0.0) == 2.0
    assert delay(5, told, lambda: 1.0) == pytest.approx(2.4)


def test_backoff_grows_with_jitter_up_to_the_cap():
    plain = Transient("HTTP 503")
    lows = [delay(n, plain, lambda: 0.0) for n in range(8)]
    highs = [delay(n, plain, lambda: 1.0) for n in range(8)]
    assert lows[0] == 0.125 and highs[0] == 0.25
    assert all(a < b for a, b in zip(highs, highs[1:5]))
    assert max(highs) == CAP and max(lows) == CAP / 2
    assert delay(1000, plain, lambda: 0.5) <= CAP
