"""The lag gate: closes past the high-water mark, opens under the low one, retry scaled to the backlog."""

from __future__ import annotations

from app.domain.backpressure import MAX_RETRY_SECONDS, LagGate


def test_hysteresis() -> None:
    gate = LagGate(high=1000, low=200)
    readings = [0, 500, 999, 1000, 800, 300, 201, 200, 600, 999, 1500]
    shed = [gate.observe(lag) for lag in readings]
    assert shed == [False, False, False, True, True, True, True, False, False, False, True]


def test_retry_after_scales_with_the_backlog_and_the_drain_rate() -> None:
    gate = LagGate(high=1000, low=200)
    gate.observe(5200, committed_per_second=500)
    assert gate.retry_after() == 10, "5,000 records above the low mark at 500/s"
    gate.observe(1200, committed_per_second=500)
    assert gate.retry_after() == 2
    gate.observe(100_000, committed_per_second=500)
    assert gate.retry_after() == MAX_RETRY_SECONDS


def test_nothing_draining_means_the_longest_wait() -> None:
    gate = LagGate(high=10, low=5)
    gate.observe(50)
    assert gate.retry_after() == MAX_RETRY_SECONDS


def test_the_drain_rate_is_smoothed() -> None:
    gate = LagGate(high=10, low=5)
    gate.observe(0, committed_per_second=1000)
    gate.observe(0, committed_per_second=0)
    assert 600 < gate.drain_rate < 800
