"""When ingest must say "not now": a lag gate with hysteresis, as pure logic.

Ingest answers 202 once the broker has an event, so it can outrun what
PostgreSQL absorbs; the difference piles up as consumer lag on
``logs.events``. Past ``high`` records of lag the gate closes (ingest
answers 429) and it opens again only under ``low``, so it does not flap
at the threshold. ``Retry-After`` is how long the backlog above ``low``
takes to drain at the rate the persist stage is committing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_RETRY_SECONDS = 1
MAX_RETRY_SECONDS = 60


@dataclass(slots=True)
class LagGate:
    high: int
    low: int
    closed: bool = False
    lag: int = 0
    drain_rate: float = 0.0  # records committed per second, smoothed

    def observe(self, lag: int, committed_per_second: float | None = None, smoothing: float = 0.3) -> bool:
        """Take a new lag reading; return whether ingest is shed now."""
        self.lag = lag
        if committed_per_second is not None:
            if self.drain_rate == 0.0:
                self.drain_rate = committed_per_second
            else:
                self.drain_rate += smoothing * (committed_per_second - self.drain_rate)
        if self.closed and lag <= self.low:
            self.closed = False
        elif not self.closed and lag >= self.high:
            self.closed = True
        return self.closed

    def retry_after(self) -> int:
        """Seconds for the backlog above ``low`` to drain (1-60; the maximum while nothing drains)."""
        if self.drain_rate <= 0:
            return MAX_RETRY_SECONDS
        seconds = math.ceil(max(self.lag - self.low, 0) / self.drain_rate)
        return min(max(seconds, MIN_RETRY_SECONDS), MAX_RETRY_SECONDS)
