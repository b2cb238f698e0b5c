"""A slow read is not a dead database: the breaker stays closed while PostgreSQL answers its probe.

Costly queries (a histogram over millions of matches, a common phrase
behind a burst of other events) can pass ``PG_READ_TIMEOUT``. Counting
them as failures let three of them shut every reader of the worker out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiopg
import pytest

from app.domain.breaker import CircuitState
from app.errors import StorageUnavailable
from app.storage import edge
from app.storage.database import Database

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=3, max_delay=1.0, breaker_failures=2, read_timeout=0.3)
    await db.start()
    await db.wait_ready()
    try:
        yield db
    finally:
        await db.stop()


async def sleep_in_postgres(pool: aiopg.Pool) -> list[object]:
    return await edge.fetch(pool, "SELECT pg_sleep(1)")


async def test_reads_that_take_too_long_do_not_open_the_breaker(database: Database) -> None:
    for _ in range(3):  # more than PG_BREAKER_FAILURES
        with pytest.raises(StorageUnavailable, match="took longer than PG_READ_TIMEOUT"):
            await database.read(sleep_in_postgres)
        assert database.breaker.state is CircuitState.CLOSED
    assert await database.read(lambda pool: edge.fetch(pool, "SELECT 1")) == [(1,)]
