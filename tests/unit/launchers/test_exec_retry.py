"""The retry policy: which failures are retried, how long to wait, and the deadline."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from launchers.exec import retry
from launchers.exec.errors import (
    ApiError,
    ConnectionFailed,
    ConnectionLost,
    Forbidden,
    PodNotFound,
    PodNotRunning,
    ProtocolError,
)


def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling():
    assert [retry.backoff(n, rand=lambda: 1.0) for n in range(8)] == [
        0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert retry.backoff(3, rand=lambda: 0.0) == 0.0
    assert retry.backoff(10_000, rand=lambda: 0.5) == 2.5
    assert all(0 <= retry.backoff(4) < 1.6 for _ in range(100))


@pytest.mark.parametrize(("value", "expected"), [
    ("3", 3.0), (" 120 ", 120.0), ("0", 0.0), ("", None), (None, None), ("soon", None),
    ("-1", None), ("1.5", None)])
def test_retry_after_delta_seconds(value, expected):
    assert retry.parse_retry_after(value, now=0.0) == expected


def test_retry_after_http_date():
    now = 1_800_000_000.0
    assert retry.parse_retry_after(formatdate(now + 7, usegmt=True), now) == pytest.approx(7)
    assert retry.parse_retry_after(formatdate(now - 7, usegmt=True), now) == 0.0


@pytest.mark.parametrize(("exc", "transient"), [
    (ApiError("busy", code=429), True),
    (ApiError("down", code=503), True),
    (ApiError("oops", code=500), True),
    (ApiError("bad", code=400), False),
    (Forbidden("no", code=403), False),
    (PodNotFound("no", code=404), False),
    (PodNotRunning("container not found", code=500), False),
    (ConnectionFailed("refused", transient=True), True),
    (ConnectionFailed("certificate not trusted"), False),
    (ConnectionLost("cut after the request"), False),
    (ProtocolError("garbage"), False),
])
def test_only_failures_before_the_command_may_have_started_are_transient(exc, transient):
    assert retry.is_transient(exc) is transient
    assert (retry.next_delay(exc, 0, remaining=60, rand=lambda: 0.5) is not None) is transient


def test_retry_after_wins_over_a_shorter_backoff_and_the_deadline_wins_over_both():
    busy = ApiError("busy", code=429, retry_after=2.0)
    assert retry.next_delay(busy, 0, remaining=10, rand=lambda: 1.0) == 2.0
    assert retry.next_delay(busy, 7, remaining=10, rand=lambda: 1.0) == 5.0
    assert retry.next_delay(busy, 0, remaining=1.5) is None
    assert retry.next_delay(ApiError("x", code=503), 3, remaining=0.5,
                            rand=lambda: 1.0) is None
