"""PostgreSQL access for the pipeline: batch insert with its count delta.

A batch is written in one transaction: the rows (one statement, the whole
batch as one JSON parameter through ``json_to_recordset`` — psycopg2's async
mode, which aiopg uses, cannot COPY) and the count delta of the rows that
were really inserted, in the ``count_deltas`` outbox. So counts can never
disagree with rows, whatever dies when.

Driver errors are translated at the storage edge (:mod:`app.storage.edge`):
connection-level trouble becomes :class:`StorageUnavailable` (retry); data
the server refuses for good is isolated here by splitting the batch and
reported back, never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import aiopg
import orjson
import psycopg2

from app.domain.counting import delta_from_rows, epoch_minute
from app.storage import edge

log = logging.getLogger(__name__)


class RecordedDelta(NamedTuple):
    """A count delta in the outbox: the batch's end offset, its counts, and the transaction that recorded it."""

    offset: int
    delta: dict[str, int]
    xid: int


Pending = list[RecordedDelta]  # recorded count deltas still to relay, oldest first

# logs is partitioned by day, so its primary key is (id, timestamp): the lookup keeps the id
# alone the idempotency key for a copy whose timestamp differs (a client retry without one),
# looking a day either side so run-time partition pruning keeps it to a few index probes.
# It is a LATERAL ... LIMIT 1 rather than NOT EXISTS on purpose: PostgreSQL may turn NOT EXISTS
# into a hash anti-join that reads the whole day's partition for every batch, and does so
# while the partition's statistics still say it is small (measured: 175 ms for 500 rows
# against 450k stored, growing with the day; the LATERAL probe took 21 ms and stays flat).
_INSERT: Final = """
INSERT INTO logs (id, "timestamp", level, message, source, organization_id, trace_id, metadata)
SELECT DISTINCT ON (r.id) r.id, r."timestamp", r.level, r.message, r.source, r.organization_id, r.trace_id, r.metadata
FROM json_to_recordset(%s::json) AS r(
    id uuid, "timestamp" timestamptz, level text, message text, source text,
    organization_id text, trace_id text, metadata jsonb)
LEFT JOIN LATERAL (
    SELECT true AS found FROM logs AS l
    WHERE l.id = r.id AND l."timestamp" BETWEEN r."timestamp" - interval '1 day' AND r."timestamp" + interval '1 day'
    LIMIT 1) AS stored ON true
WHERE stored.found IS NULL
ORDER BY r.id
ON CONFLICT (id, "timestamp") DO NOTHING
RETURNING level, source, organization_id
"""
# A batch that inserted rows read offsets no committed batch of this topic read before (a
# partition is persisted in offset order, and a replayed batch inserts nothing), so a recorded
# delta at or past its end offset belongs to an earlier incarnation of the topic: a recreated
# logs.events, or a new broker over the same database. Relaying it would count rows that are not
# this batch's, and keeping it would hide this batch's delta behind the same key.
_DISCARD_STALE_DELTAS: Final = """
DELETE FROM count_deltas WHERE events_partition = %(partition)s AND end_offset >= %(end_offset)s
RETURNING end_offset
"""
# The conflict left is two workers storing one event twice in the same instant (a resend without
# a timestamp, during a rebalance): the first delta counts it once.
_RECORD_DELTA: Final = """
INSERT INTO count_deltas (events_partition, end_offset, delta) VALUES (%(partition)s, %(end_offset)s, %(delta)s::jsonb)
ON CONFLICT DO NOTHING;
"""
_FORGET_DELTAS: Final = """
DELETE FROM count_deltas WHERE events_partition = %(partition)s AND end_offset <= %(relayed)s;
"""
_PENDING_DELTAS: Final = """
SELECT end_offset, delta, recorded_by::text FROM count_deltas WHERE events_partition = %(partition)s ORDER BY end_offset
"""


@dataclass(slots=True)
class BatchResult:
    """What became of a batch: the delta of what was inserted, what was refused."""

    inserted: int = 0
    delta: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    pending: Pending = field(default_factory=list)  # count deltas still to relay


LATENCY_SETTINGS: Final = "SET jit = off; SET max_parallel_workers_per_gather = 0"


async def _plan_for_latency(conn: aiopg.Connection) -> None:
    """Turn off JIT compilation and parallel query for this connection.

    The planner cannot estimate how many rows a full-text query matches, so a
    rare word looks like tens of thousands of rows. That crosses
    ``jit_above_cost`` and spends ~25 ms compiling for a query that then runs
    in under 1 ms (measured on 10M rows: 62 ms with JIT, 8 ms without), and
    it buys a parallel plan whose workers take longer to start than the query
    takes to run (a word in 41 of 10M rows: 21-26 ms with two workers,
    1.4-3.9 ms without; a page's count 5 -> 2.5 ms). Every query logpipe asks
    in the request path is bounded by an index; the ones that are not (ranked
    search) are opt-in, and on a small machine parallel workers take their
    cores from the pipeline.
    """
    async with conn.cursor() as cur:
        await cur.execute(LATENCY_SETTINGS)


async def connect_pool(dsn: str, size: int) -> aiopg.Pool:
    """A connection pool; fails with :class:`StorageUnavailable` when PostgreSQL is away."""
    with edge.postgres_errors():
        return await aiopg.create_pool(
            dsn, minsize=0, maxsize=size, timeout=30, pool_recycle=300, on_connect=_plan_for_latency
        )


async def _insert_isolating(cur: aiopg.Cursor, events: Sequence[dict[str, Any]], result: BatchResult) -> list[Any]:
    """Insert ``events``; on a row error, split in halves until the bad rows stand alone."""
    await cur.execute("SAVEPOINT batch")
    try:
        await cur.execute(_INSERT, (orjson.dumps(events).decode(),))
        rows: list[Any] = await cur.fetchall()
    except psycopg2.Error as exc:
        if not edge.is_row_error(exc):
            raise
        await cur.execute("ROLLBACK TO SAVEPOINT batch")
        if len(events) == 1:
            result.rejected.append((events[0], f"{exc.pgcode}: {str(exc).strip()}"))
            return []
        middle = len(events) // 2
        return [
            *await _insert_isolating(cur, events[:middle], result),
            *await _insert_isolating(cur, events[middle:], result),
        ]
    await cur.execute("RELEASE SAVEPOINT batch")
    return rows


async def persist_batch(
    pool: aiopg.Pool,
    events: Sequence[dict[str, Any]],
    *,
    partition: int,
    end_offset: int,
    relayed: int | None = None,
    wait_turn: Callable[[], Awaitable[int | None]] | None = None,
    discard_stale: bool = True,
    now: datetime | None = None,
) -> BatchResult:
    """Insert a batch of wire-format events read up to ``end_offset`` of ``partition``.

    Events whose id is already stored are skipped (the id is the idempotency
    key). The count delta of the rows really inserted is recorded in the
    same transaction, which also forgets the deltas up to ``relayed``
    (already on ``logs.counts``) and reads back those still to relay: one
    transaction, one commit, per batch.

    ``wait_turn``, when given, is awaited once the rows are inserted and
    before the delta is recorded, and returns ``relayed``: so the rows of
    the partition's next batch go in while an earlier one commits, but the
    deltas are still recorded, committed and relayed in offset order.

    ``discard_stale`` first removes the deltas recorded at or past
    ``end_offset`` (see ``_DISCARD_STALE_DELTAS``): a round trip that is
    needed only until the partition's first delta since it was assigned.
    """
    result = BatchResult()
    async with edge.transaction(pool, begin=False) as cur:
        rows = await _insert_rows(cur, events, result)
        result.inserted = len(rows)
        result.delta = delta_from_rows(rows, epoch_minute(now or datetime.now(UTC)))
        if wait_turn is not None:
            relayed = await wait_turn()
        if result.delta and discard_stale:
            await _discard_stale_deltas(cur, partition, end_offset)
        result.pending = await _record_and_read_deltas(cur, partition, end_offset, result.delta, relayed)
    return result


async def _insert_rows(cur: aiopg.Cursor, events: Sequence[dict[str, Any]], result: BatchResult) -> list[Any]:
    """The batch's INSERT, opening the transaction in the same round trip; rows PostgreSQL refuses are isolated
    (the transaction starts again, and the batch is split until the bad rows stand alone)."""
    try:
        await cur.execute("BEGIN;" + _INSERT, (orjson.dumps(events).decode(),))
        rows: list[Any] = await cur.fetchall()
        return rows
    except psycopg2.Error as exc:
        if not edge.is_row_error(exc):
            raise
    await cur.execute("ROLLBACK; BEGIN")
    return await _insert_isolating(cur, events, result)


async def _record_and_read_deltas(
    cur: aiopg.Cursor, partition: int, end_offset: int, delta: dict[str, int], relayed: int | None
) -> Pending:
    """Record ``delta``, forget what was relayed, read what is pending: one round trip."""
    statements = []
    if delta:
        statements.append(_RECORD_DELTA)
        if relayed is not None and relayed >= end_offset:
            relayed = None  # what was relayed was stale too: forgetting up to there would forget this delta
    if relayed is not None:
        statements.append(_FORGET_DELTAS)
    args = {"partition": partition, "end_offset": end_offset, "delta": orjson.dumps(delta).decode(), "relayed": relayed}
    await cur.execute("".join([*statements, _PENDING_DELTAS]), args)
    return [RecordedDelta(int(offset), dict(delta), int(xid)) for offset, delta, xid in await cur.fetchall()]


async def _discard_stale_deltas(cur: aiopg.Cursor, partition: int, end_offset: int) -> None:
    await cur.execute(_DISCARD_STALE_DELTAS, {"partition": partition, "end_offset": end_offset})
    stale = [int(offset) for (offset,) in await cur.fetchall()]
    if stale:
        log.warning(
            "discarded the count deltas recorded at offsets %s of logs.events[%d]: they are at or past the batch"
            " just stored (up to offset %d), so they come from an earlier incarnation of the topic",
            stale,
            partition,
            end_offset,
        )


async def pending_deltas(pool: aiopg.Pool, partition: int, relayed: int | None = None) -> Pending:
    """Recorded deltas of ``partition`` still to relay, oldest first (forgetting those up to ``relayed``)."""
    async with edge.transaction(pool) as cur:
        return await _record_and_read_deltas(cur, partition, -1, {}, relayed)


async def ping(pool: aiopg.Pool) -> None:
    """Raise :class:`StorageUnavailable` unless PostgreSQL answers."""
    async with edge.transaction(pool) as cur:
        await cur.execute("SELECT 1")
