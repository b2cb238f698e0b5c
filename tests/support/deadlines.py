"""Waiting with a deadline: for a condition to hold, or for a block to finish.

Never ``sleep`` and hope: a test waits for what it needs, and a deadline
turns "never" into a failure that names what did not happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable

Condition = Callable[[], bool | Awaitable[bool]]


async def wait_for(
    condition: Condition,
    *,
    timeout: float,  # noqa: ASYNC109 - not asyncio.timeout: its expiry is reported with what was awaited
    what: str,
    interval: float = 0.25,
) -> float:
    """Poll ``condition`` until true; returns seconds waited, fails after ``timeout``.

    An ``async def`` condition runs on the event loop. A plain one (a lambda)
    runs in a worker thread, so it may block (psycopg2, a subprocess, a
    file) without stalling the loop; if it returns an awaitable (a lambda
    calling an async helper), that is awaited on the loop.
    """
    start = time.monotonic()
    while True:
        if inspect.iscoroutinefunction(condition):
            result = await condition()
        else:
            result = await asyncio.to_thread(condition)
            if inspect.isawaitable(result):
                result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def within(seconds: float, what: str) -> AsyncIterator[None]:
    """Fail (AssertionError naming ``what``) if the block is not done ``seconds`` after it began.

    The block is cancelled at the deadline: a request that hangs fails the
    test then, instead of being timed after it finally answers.
    """
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            yield
    except TimeoutError:
        if deadline.expired():
            raise AssertionError(f"{what}: not done within {seconds:g}s") from None
        raise
