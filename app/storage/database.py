"""The worker's PostgreSQL connection: pool, schema, and readiness.

A worker starts even when PostgreSQL is away (ingest must keep accepting
into Kafka); this service keeps trying in the background to reach it,
create the database and apply migrations, and agents wait on
:meth:`Database.wait_ready` before they write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiopg
import orjson
import psycopg2.extras
from mode import Service

from app.errors import StorageUnavailable
from app.storage import migrate, postgres

log = logging.getLogger(__name__)

# jsonb read back with orjson, as it was written: a number too large for 64 bits
# (PostgreSQL keeps 1e20 as the integer 100000000000000000000) comes back a float,
# which every JSON answer can hold, instead of an int that orjson cannot write.
psycopg2.extras.register_default_jsonb(globally=True, loads=orjson.loads)
psycopg2.extras.register_default_json(globally=True, loads=orjson.loads)


class Database(Service):
    """Owns the aiopg pool for one worker process."""

    def __init__(
        self,
        dsn: str,
        pool_size: int,
        max_delay: float,
        before_ready: Callable[[aiopg.Pool], Awaitable[object]] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._dsn = dsn
        self._before_ready = before_ready
        self._pool_size = pool_size
        self._max_delay = max_delay
        self._pool: aiopg.Pool | None = None
        self._ready = asyncio.Event()

    @property
    def pool(self) -> aiopg.Pool:
        if self._pool is None:
            raise StorageUnavailable("PostgreSQL is not connected yet")
        return self._pool

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def wait_ready(self) -> aiopg.Pool:
        await self._ready.wait()
        return self.pool

    @Service.task
    async def _prepare(self) -> None:
        async def attempt() -> aiopg.Pool:
            await migrate.ensure_database(self._dsn)
            await migrate.migrate(self._dsn)
            return await postgres.connect_pool(self._dsn, self._pool_size)

        self._pool = await postgres.retrying(
            attempt, max_delay=self._max_delay, on_retry=self._on_retry, sleep=self.sleep
        )
        if self._before_ready is not None:
            try:
                await self._before_ready(self._pool)
            except Exception:  # it is a head start, not a condition: the timer repeats it
                log.exception("preparing PostgreSQL before the first write failed; going on")
        self._ready.set()
        log.info("PostgreSQL ready (schema up to date)")

    def _on_retry(self, exc: StorageUnavailable, delay: float) -> None:
        log.warning("%s; retrying in %.1fs", exc, delay)

    async def on_stop(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()

    async def ping(self) -> None:
        await postgres.ping(self.pool)
