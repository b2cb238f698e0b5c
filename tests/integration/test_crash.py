"""A worker SIGKILLed mid-stream and restarted: nothing lost, nothing twice, counts exact.

The restarted worker rejoins the group once the dev broker (tansu) has
evicted the dead member after its session timeout, as Kafka does.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.deadlines import wait_for
from tests.support.events import good_event
from tests.support.kafka import produce, wait_drained
from tests.support.rows import query, row_count
from tests.support.stats import stats_match_rows
from tests.support.workers import SUPPORTED_STORES, WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.multiworker]
EVENTS = 5000


@pytest.mark.parametrize("store", SUPPORTED_STORES, indirect=True)
async def test_sigkill_mid_stream_then_restart(workers: WorkerFactory, database_url: str) -> None:
    bootstrap = workers.bootstrap
    worker = await workers.start("victim")

    async def flow() -> None:
        for start in range(0, EVENTS, 250):
            await produce(bootstrap, "logs.raw", [good_event(i) for i in range(start, start + 250)])

    producing = asyncio.create_task(flow())
    await wait_for(lambda: row_count(database_url) >= 1000, timeout=90, what="the first 1,000 rows")
    rows_at_kill = await asyncio.to_thread(row_count, database_url)
    await asyncio.to_thread(worker.kill)
    killed_at = time.monotonic()
    await producing

    await asyncio.to_thread(worker.start)
    await wait_for(lambda: row_count(database_url) >= EVENTS, timeout=120, what=f"{EVENTS} rows after restart")
    recovered = time.monotonic() - killed_at
    await wait_drained(bootstrap, workers.app_id)
    distinct = "SELECT count(*), count(DISTINCT message) FROM logs"
    assert await asyncio.to_thread(query, database_url, distinct) == [(EVENTS, EVENTS)]
    await wait_for(lambda: stats_match_rows(worker, database_url), timeout=60, what="stats = PostgreSQL")
    print(
        f"\nkilled at {rows_at_kill} rows; all {EVENTS} rows {recovered:.1f}s after the kill, none twice; stats exact"
    )
