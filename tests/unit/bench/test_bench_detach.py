"""bench.detach's reading of the API server's samples: the second half of the ranks' sleep."""

from __future__ import annotations

from bench.detach import held


def test_held_is_the_median_of_the_quiet_window_only() -> None:
    # (time, threads above idle, fds above idle): the launch's peak at 1 s, the job's hold
    # from 5 to 9 s, the teardown after 10 s; the ranks sleep 10 s from t=0
    samples = [(1.0, 90, 300), (5.0, 64, 256), (6.0, 64, 256), (8.0, 65, 258),
               (9.0, 64, 256), (10.5, 0, 0)]
    assert held(samples, 0.0, 10.0) == (64, 256)


def test_no_sample_in_the_window_is_minus_one() -> None:
    assert held([(0.5, 3, 3)], 0.0, 10.0) == (-1, -1)
