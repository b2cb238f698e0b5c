"""The one storage edge: driver errors become logpipe's, transactions open and close in one place, and writes
wait out an outage with one backoff.

What PostgreSQL or Redis raise is sorted here, once: trouble with the
server or the network (it may answer later) becomes
:class:`~app.errors.StorageUnavailable`; data PostgreSQL refuses for good
(SQLSTATE classes 22, 23, 54) stays a ``psycopg2.Error`` so the caller can
isolate the rows and dead-letter them. Everything else is a bug and
propagates as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Final, TypeVar

import aiopg
import psycopg2
import redis.exceptions

from app.domain.backoff import retrying
from app.errors import StorageUnavailable
from app.ops.metrics import POSTGRES_RETRIES

log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLSTATE classes that mean "these rows are wrong", not "the server is unwell":
# 22 data exception, 23 integrity constraint violation, 54 program limit exceeded.
_ROW_ERROR_CLASSES: Final = ("22", "23", "54")


def is_row_error(exc: psycopg2.Error) -> bool:
    """Whether PostgreSQL refused the data itself (dead-letter it), rather than being unwell (retry).

    By SQLSTATE, not by class: psycopg2 raises ``OperationalError`` for class
    54 (an index row too large) as for a lost connection (which has none).
    """
    code = exc.pgcode or ""
    if code == "23514" and "partition constraint" in str(exc):
        # A day's partition was attached while this row was routed to logs_default:
        # nothing is wrong with the row, and a retry routes it to the new partition.
        return False
    return code[:2] in _ROW_ERROR_CLASSES


@contextlib.contextmanager
def postgres_errors() -> Iterator[None]:
    """Translate what PostgreSQL's drivers raise: see the module docstring."""
    try:
        yield
    except psycopg2.Error as exc:
        if is_row_error(exc) or isinstance(exc, psycopg2.ProgrammingError):
            raise
        raise StorageUnavailable(f"PostgreSQL unavailable: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise StorageUnavailable(f"PostgreSQL unavailable: {exc}") from exc


@contextlib.contextmanager
def redis_errors() -> Iterator[None]:
    """Translate what Redis's client raises into :class:`~app.errors.StorageUnavailable`."""
    try:
        yield
    except (redis.exceptions.RedisError, OSError) as exc:
        raise StorageUnavailable(f"Redis unavailable: {exc}") from exc


@contextlib.asynccontextmanager
async def begun(cur: aiopg.Cursor, *, begin: bool = True) -> AsyncIterator[aiopg.Cursor]:
    """A transaction on a cursor already held (aiopg connections are in autocommit): BEGIN, then COMMIT,
    or ROLLBACK on any error while the connection still stands.

    With ``begin=False`` the caller's first statement starts with ``BEGIN;``:
    a round trip less, which counts where the worker shares its cores.
    """
    if begin:
        await cur.execute("BEGIN")
    try:
        yield cur
    except BaseException:
        if not cur.connection.closed:
            await cur.execute("ROLLBACK")
        raise
    await cur.execute("COMMIT")


@contextlib.asynccontextmanager
async def transaction(pool: aiopg.Pool, *, begin: bool = True) -> AsyncIterator[aiopg.Cursor]:
    """A pooled cursor inside :func:`begun`, with driver errors translated."""
    with postgres_errors():
        async with pool.acquire() as conn, conn.cursor() as cur, begun(cur, begin=begin):
            yield cur


@contextlib.asynccontextmanager
async def cursor(pool: aiopg.Pool) -> AsyncIterator[aiopg.Cursor]:
    """A cursor in autocommit (one statement, no transaction), with driver errors translated."""
    with postgres_errors():
        async with pool.acquire() as conn, conn.cursor() as cur:
            yield cur


async def fetch(pool: aiopg.Pool, sql: str, args: object = None) -> list[object]:
    """The rows of one read statement."""
    async with cursor(pool) as cur:
        await cur.execute(sql, args)
        rows: list[object] = await cur.fetchall()
        return rows


async def retry_storage(operation: Callable[[], Awaitable[T]], *, max_delay: float) -> T:
    """Run a PostgreSQL write until it goes through: the stage's partition waits while PostgreSQL is away."""

    def on_retry(exc: StorageUnavailable, delay: float) -> None:
        POSTGRES_RETRIES.inc()
        log.warning("%s; retrying in %.1fs", exc, delay)

    return await retrying(
        operation, retry_on=StorageUnavailable, max_delay=max_delay, on_retry=on_retry, sleep=asyncio.sleep
    )
