"""How many single POSTs one worker answers in time, and how it behaves offered twice that.

The capacity is found by a ladder of offered rates, lowest first, each run
open loop for the same time: the highest rung whose p99 stays under the
limit with nothing refused. The overload run offers twice that and checks
what a client of an overloaded log store needs: the requests it takes are
still answered quickly, the rest are refused at once with a time to come
back, no connection hangs, memory stays bounded, and everything it said
yes to is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import psutil

from bench.paths import count_source, open_loop_posts

RUNGS = (500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 8000)
CAPACITY_P99_MS = 50.0


async def capacity(
    url: str, seconds: float, *, rungs: tuple[float, ...] = RUNGS, step: Callable[[str], None] = print
) -> dict[str, Any]:
    """Climb the ladder until a rung misses (p99 over the limit, or anything not accepted)."""
    ladder: list[dict[str, Any]] = []
    best = 0.0
    for rate in rungs:
        rung = await open_loop_posts(url, rate, seconds)
        ladder.append(rung)
        step(f"  {rate:,.0f}/s: p99 {rung['p99']:,.1f} ms, {rung['errors']:,} not accepted {rung['error_kinds']}")
        if rung["p99"] >= CAPACITY_P99_MS or rung["errors"]:
            break
        best = rate
    return {"ladder": ladder, "capacity": best, "limit_ms": CAPACITY_P99_MS}


async def overload(url: str, database_url: str, rate: float, seconds: float, worker_pid: int) -> dict[str, Any]:
    """``rate`` POSTs/s for ``seconds``; the worker's highest RSS meanwhile; then every accepted event counted."""
    source = f"overload-{uuid.uuid4().hex[:8]}"
    worker = psutil.Process(worker_pid)
    highest = worker.memory_info().rss

    async def watch_memory() -> None:
        nonlocal highest
        while True:
            highest = max(highest, worker.memory_info().rss)
            await asyncio.sleep(0.25)

    watcher = asyncio.create_task(watch_memory())
    try:
        run = await open_loop_posts(url, rate, seconds, source=source)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    stored = await count_source(database_url, source, run["accepted"], limit_s=120)
    return {**run, "seconds": seconds, "rss_max_mb": highest / 2**20, "stored": stored}
