"""Retrying with capped exponential backoff: one rule for PostgreSQL, the broker and topic creation.

A stage that cannot write waits and tries the same work again, doubling the
pause from ``first`` up to ``max_delay`` (each caller has its own setting),
so a partition waits for a dependency instead of losing what it holds.
Which errors are worth another try is the caller's to say, by type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    retry_on: type[E] | tuple[type[E], ...],
    max_delay: float,
    on_retry: Callable[[E, float], None],
    sleep: Callable[[float], Awaitable[object]],
    first: float = 0.1,
    attempts: int | None = None,
) -> T:
    """Run ``operation`` until it does not raise one of ``retry_on``; after ``attempts`` tries (if given),
    the last error is raised. ``on_retry(error, delay)`` is told before each pause."""
    delay = first
    tried = 0
    while True:
        try:
            return await operation()
        except retry_on as exc:
            tried += 1
            if attempts is not None and tried >= attempts:
                raise
            on_retry(exc, delay)
            await sleep(delay)
            delay = min(delay * 2, max_delay)
