"""A circuit breaker: stop calling a dependency that keeps failing, try it again later.

Pure state, no I/O and an injectable clock, so every transition is tested
without servers. The storage edge asks :meth:`CircuitBreaker.allow` before a
call and reports how it went; callers answer from elsewhere (the cache) or
fail fast while it says no.

    closed --(``failures`` in a row, or trip())--> open
    open --(``reset`` seconds)--> half_open: one probe call is let through
    half_open --(probe succeeds)--> closed;  --(probe fails)--> open again
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Clock = Callable[[], float]
OnChange = Callable[[CircuitState, CircuitState], None]


class CircuitBreaker:
    """One dependency's breaker.

    ``on_change(old, new)`` is called on every transition (metrics, logs).
    The move from open to half-open happens by time alone and is noticed the
    next time the state is looked at. A probe that never reports back (its
    caller was cancelled) does not wedge the breaker: after another ``reset``
    seconds a new probe is let through.
    """

    def __init__(
        self, failures: int, reset: float, *, clock: Clock = time.monotonic, on_change: OnChange | None = None
    ) -> None:
        if failures < 1:
            raise ValueError("failures must be at least 1")
        if reset <= 0:
            raise ValueError("reset must be positive")
        self._threshold = failures
        self._reset = reset
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None  # when the half-open probe was let through

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self._reset:
            self._move(CircuitState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """Whether a call may go to the dependency now; in half-open, ``True`` claims the one probe."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN:
            return False
        now = self._clock()
        if self._probe_at is not None and now - self._probe_at < self._reset:
            return False  # a probe is out; everyone else waits for its verdict
        self._probe_at = now
        return True

    def succeeded(self) -> None:
        """A call answered: the dependency is back (or never left)."""
        self._failures = 0
        if self._state is not CircuitState.CLOSED:
            self._move(CircuitState.CLOSED)

    def failed(self) -> None:
        """A call could not reach the dependency."""
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._open()
        elif state is CircuitState.CLOSED:
            self._failures += 1
            if self._failures >= self._threshold:
                self._open()

    def trip(self) -> None:
        """Open now, whatever the count: something surer than one call said the dependency is away."""
        if self.state is not CircuitState.OPEN:
            self._open()

    def retry_after(self) -> float:
        """Seconds until the next probe may go (0 unless open)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self._reset - self._clock())

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failures = 0
        self._move(CircuitState.OPEN)

    def _move(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        self._probe_at = None
        if self._on_change is not None and old is not new:
            self._on_change(old, new)
