"""The exec fault switch: parsing and its deterministic pattern."""

from __future__ import annotations

import pytest

from kube_pmix.local.faults import ExecFaults, FaultSpecError, parse_exec_error


def pattern(faults: ExecFaults, n: int) -> list[int]:
    """Status code per request, 0 for a request served."""
    out = []
    for _ in range(n):
        refusal = faults.next()
        out.append(0 if refusal is None else refusal[0]["code"])
    return out


def test_a_tenth_refuses_every_tenth_request():
    codes = pattern(ExecFaults({429: 0.1}), 100)
    assert [i + 1 for i, c in enumerate(codes) if c] == list(range(10, 101, 10))
    assert set(codes) == {0, 429}


def test_two_codes_share_out_their_requests_exactly():
    faults = ExecFaults({429: 0.1, 503: 0.1})
    codes = pattern(faults, 1000)
    assert (codes.count(429), codes.count(503)) == (100, 100)
    assert faults.refused == {429: 100, 503: 100} and faults.requests == 1000


def test_429_carries_retry_after_and_503_none():
    faults = ExecFaults({429: 0.5, 503: 0.5})
    first, second = faults.next(), faults.next()
    assert first is not None and second is not None
    assert first[1] == {"Retry-After": "1"} and first[0]["details"] == {"retryAfterSeconds": 1}
    assert second[1] == {} and second[0]["reason"] == "ServiceUnavailable"


def test_no_switch_serves_everything():
    assert pattern(ExecFaults(), 50) == [0] * 50


@pytest.mark.parametrize("text", ["429", "429:x", "500:0.1", "429:0", "429:1.5", ":0.1"])
def test_bad_specs_are_refused(text):
    with pytest.raises(FaultSpecError):
        parse_exec_error(text)


def test_parse_and_shares_over_one():
    assert parse_exec_error("503:0.25") == (503, 0.25)
    with pytest.raises(FaultSpecError, match="more than 1"):
        ExecFaults({429: 0.7, 503: 0.6})


def test_cli_refuses_a_bad_exec_error_before_starting_anything():
    from click.testing import CliRunner

    from kube_pmix.local.cli import local

    result = CliRunner().invoke(local, ["up", "--name", "kp-never", "--exec-error", "500:0.1"])
    assert result.exit_code == 2
    assert "exec error code 500 is not one of 429, 503" in result.output
