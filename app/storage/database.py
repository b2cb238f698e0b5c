"""The worker's PostgreSQL connection: pool, schema, and readiness.

A worker starts even when PostgreSQL is away (ingest must keep accepting
into Kafka); this service keeps trying in the background to reach it,
create the database and apply migrations, and agents wait on
:meth:`Database.wait_ready` before they write.

Reads for HTTP answers go through :meth:`Database.read` and its circuit
breaker instead: a request must not wait on a PostgreSQL that keeps
failing, when the cache may hold an answer or a 503 tells the client to
come back. Writes never go through it; they wait and retry.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiopg
import orjson
import psycopg2.extras
from mode import Service

from app.domain.backoff import retrying
from app.domain.breaker import CircuitBreaker, CircuitState
from app.errors import CircuitOpen, StorageUnavailable
from app.ops.metrics import CIRCUIT_STATE, CIRCUIT_TRANSITIONS
from app.storage import migrate, postgres

log = logging.getLogger(__name__)
T = TypeVar("T")
DEPENDENCY = "postgres"
# The half-open probe asks PostgreSQL for SELECT 1 this long at most before the read itself: a network
# that still drops everything costs the probing request this, not the whole read timeout.
PROBE_TIMEOUT = 1.0
_STATE_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}

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
        *,
        breaker_failures: int = 3,
        breaker_reset: float = 5.0,
        read_timeout: float = 10.0,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.breaker = CircuitBreaker(breaker_failures, breaker_reset, on_change=_report_transition)
        # Read at scrape time: the move to half-open happens by time alone, with no call to notice it.
        CIRCUIT_STATE.labels(DEPENDENCY).set_function(lambda: _STATE_VALUES[self.breaker.state])
        self._read_timeout = read_timeout
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
    def ready_pool(self) -> aiopg.Pool:
        """The pool once the schema is in place; :class:`StorageUnavailable` (a 503 for a request) before."""
        if not self.is_ready:
            raise StorageUnavailable("PostgreSQL is not reachable yet")
        return self.pool

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

        self._pool = await retrying(
            attempt, retry_on=StorageUnavailable, max_delay=self._max_delay, on_retry=self._on_retry, sleep=self.sleep
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

    async def ping(self, within: float = PROBE_TIMEOUT) -> None:
        """The readiness probe: always asks PostgreSQL. Its failure opens the breaker at once; its success
        closes a breaker that is due a probe (half-open), never one still open."""
        try:
            async with asyncio.timeout(within):
                await postgres.ping(self.pool)
        except TimeoutError as exc:
            self.breaker.trip()
            raise StorageUnavailable(f"PostgreSQL unavailable: no answer within {within:g}s") from exc
        except StorageUnavailable:
            self.breaker.trip()
            raise
        if self.breaker.state is not CircuitState.OPEN:
            self.breaker.succeeded()

    async def read(self, operation: Callable[[aiopg.Pool], Awaitable[T]]) -> T:
        """Run a read through the circuit breaker, within ``read_timeout``.

        Raises :class:`CircuitOpen` at once, without touching PostgreSQL, while
        the breaker is open (or another request holds the half-open probe);
        :class:`StorageUnavailable` when the read fails or takes too long,
        which counts towards opening it unless PostgreSQL still answers a
        probe (then only that read was slow). Either way the caller answers from
        the cache or with a fast 503.
        """
        if not self.is_ready:
            raise StorageUnavailable("PostgreSQL is not reachable yet")
        breaker = self.breaker
        probing = breaker.state is CircuitState.HALF_OPEN
        if not breaker.allow():
            retry = breaker.retry_after()
            when = f"next try in {math.ceil(retry)}s" if retry else "a probe is under way"
            raise CircuitOpen(f"PostgreSQL unavailable (circuit open; {when})", retry)
        try:
            if probing:
                await self.ping()
            async with asyncio.timeout(self._read_timeout):
                result = await operation(self.pool)
        except StorageUnavailable:
            breaker.failed()
            raise
        except TimeoutError as exc:
            if await self._answers():
                # A slow read is not a dead database: counting it would let three costly queries shut
                # every reader of this worker out for PG_BREAKER_RESET.
                breaker.succeeded()
                raise StorageUnavailable(
                    f"the read took longer than PG_READ_TIMEOUT ({self._read_timeout:g}s); PostgreSQL itself answers"
                ) from exc
            breaker.failed()
            raise StorageUnavailable("PostgreSQL unavailable: no answer in time") from exc
        breaker.succeeded()
        return result

    async def _answers(self) -> bool:
        """Whether PostgreSQL answers a ``SELECT 1`` within the probe's time (not counted by the breaker)."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await postgres.ping(self.pool)
        except (TimeoutError, StorageUnavailable):
            return False
        return True


def _report_transition(old: CircuitState, new: CircuitState) -> None:
    CIRCUIT_TRANSITIONS.labels(DEPENDENCY, new.value).inc()
    if new is CircuitState.OPEN:
        log.warning("PostgreSQL circuit %s -> open: reads answer from the cache or 503 until a probe succeeds", old)
    else:
        log.info("PostgreSQL circuit %s -> %s", old, new)
