"""The circuit breaker's state machine, on a fake clock: no servers, no sleeping."""

from __future__ import annotations

import pytest

from app.domain.breaker import CircuitBreaker, CircuitState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def state(b: CircuitBreaker) -> CircuitState:
    """The state now: it moves with the clock alone, so it is read afresh rather than narrowed by an assert."""
    return b.state


def breaker(clock: Clock, changes: list[tuple[str, str]] | None = None) -> CircuitBreaker:
    record = (lambda old, new: changes.append((old.value, new.value))) if changes is not None else None
    return CircuitBreaker(3, 5.0, clock=clock, on_change=record)


@pytest.mark.parametrize(
    ("outcomes", "state"),
    [
        ("", CircuitState.CLOSED),
        ("ff", CircuitState.CLOSED),
        ("fff", CircuitState.OPEN),
        ("ffsff", CircuitState.CLOSED),  # consecutive failures only: a success starts the count again
        ("ffsfff", CircuitState.OPEN),
        ("sss", CircuitState.CLOSED),
    ],
)
def test_consecutive_failures_open_it(clock: Clock, outcomes: str, state: CircuitState) -> None:
    b = breaker(clock)
    for outcome in outcomes:
        b.succeeded() if outcome == "s" else b.failed()
    assert b.state is state


def test_while_open_nothing_is_let_through_until_the_reset(clock: Clock) -> None:
    b = breaker(clock)
    b.trip()
    assert b.state is CircuitState.OPEN
    assert not b.allow()
    assert b.retry_after() == 5.0
    clock.now += 4.9
    assert not b.allow()
    assert b.retry_after() == pytest.approx(0.1)
    clock.now += 0.1
    assert state(b) is CircuitState.HALF_OPEN
    assert b.retry_after() == 0.0


def test_half_open_lets_one_probe_through_and_its_success_closes(clock: Clock) -> None:
    b = breaker(clock)
    b.trip()
    clock.now += 5
    assert b.allow(), "the probe"
    assert not b.allow(), "only one probe at a time"
    b.succeeded()
    assert b.state is CircuitState.CLOSED
    assert all(b.allow() for _ in range(10))


def test_a_failed_probe_opens_it_again_for_another_reset(clock: Clock) -> None:
    b = breaker(clock)
    b.trip()
    clock.now += 5
    assert b.allow()
    b.failed()
    assert b.state is CircuitState.OPEN
    assert b.retry_after() == 5.0
    clock.now += 5
    assert b.allow()


def test_a_probe_that_never_reports_back_does_not_wedge_it(clock: Clock) -> None:
    b = breaker(clock)
    b.trip()
    clock.now += 5
    assert b.allow()
    clock.now += 4
    assert not b.allow()
    clock.now += 1
    assert b.allow(), "a new probe once the lost one had a reset's time"


def test_failures_while_open_do_not_push_the_reset_back(clock: Clock) -> None:
    b = breaker(clock)
    b.trip()
    clock.now += 3
    b.failed()  # a call that started before it opened, failing late
    assert b.retry_after() == 2.0


def test_trip_opens_at_once_and_counts_one_transition(clock: Clock) -> None:
    changes: list[tuple[str, str]] = []
    b = breaker(clock, changes)
    b.trip()
    b.trip()
    assert changes == [("closed", "open")]


def test_every_transition_is_reported(clock: Clock) -> None:
    changes: list[tuple[str, str]] = []
    b = breaker(clock, changes)
    for _ in range(3):
        b.failed()
    clock.now += 5
    assert b.allow()
    b.failed()
    clock.now += 5
    assert b.allow()
    b.succeeded()
    b.succeeded()
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


@pytest.mark.parametrize(("failures", "reset"), [(0, 5.0), (3, 0.0), (3, -1.0)])
def test_nonsense_settings_are_refused(failures: int, reset: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        CircuitBreaker(failures, reset)
