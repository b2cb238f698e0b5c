"""The ``dead_letters`` table: logs.dlq indexed for listing and replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiopg

from app.domain import cursors
from app.domain.replay import StoredLetter
from app.errors import QueryError
from app.storage import edge

_COLUMNS: Final = (
    "dlq_partition, dlq_offset, reason, detail, source_topic, source_partition, source_offset,"
    " source_timestamp, failed_at, key, value, replayed_at, replay_count"
)
_INSERT: Final = f"""
INSERT INTO dead_letters ({_COLUMNS.rsplit(", replayed_at", 1)[0]})
SELECT * FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::int[], %s::bigint[],
                     %s::bigint[], %s::timestamptz[], %s::bytea[], %s::bytea[])
ON CONFLICT DO NOTHING
"""  # noqa: S608 - constants only


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters: by reason, time range and/or ``partition:offset`` refs."""

    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    refs: tuple[tuple[int, int], ...] = ()


async def _run(pool: aiopg.Pool, sql: str, args: Any, fetch: bool = True) -> list[Any]:
    async with edge.cursor(pool) as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall()) if fetch else []


async def store(pool: aiopg.Pool, rows: list[tuple[Any, ...]]) -> None:
    """Keep dead letters read from logs.dlq; a record seen twice is kept once."""
    if rows:
        columns = [list(column) for column in zip(*rows, strict=True)]
        await _run(pool, _INSERT, columns, fetch=False)


def _where(selection: Selection) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    args: list[Any] = []
    if selection.reason:
        conditions.append("reason = %s")
        args.append(selection.reason)
    if selection.since:
        conditions.append("failed_at >= %s")
        args.append(selection.since)
    if selection.until:
        conditions.append("failed_at <= %s")
        args.append(selection.until)
    if selection.refs:
        conditions.append("(dlq_partition, dlq_offset) IN (SELECT * FROM unnest(%s::int[], %s::bigint[]))")
        args += [[p for p, _ in selection.refs], [o for _, o in selection.refs]]
    return (" AND ".join(conditions) or "TRUE"), args


def encode_cursor(row: Any) -> str:
    return cursors.encode([row[8].isoformat(), row[0], row[1]])


def decode_cursor(raw: str) -> tuple[str, int, int]:
    """A dead-letter cursor's sort key; raises :class:`~app.errors.QueryError` for anything else."""
    failed_at, partition, offset = cursors.decode(raw, 3)
    try:
        return str(failed_at), int(partition), int(offset)
    except (TypeError, ValueError):
        raise QueryError("cursor", "cursor", "is not a cursor this API returned") from None


async def list_letters(pool: aiopg.Pool, selection: Selection, limit: int, cursor: str | None) -> list[Any]:
    """Newest first, ``limit + 1`` rows (the extra says that more follow)."""
    where, args = _where(selection)
    if cursor:
        where += " AND (failed_at, dlq_partition, dlq_offset) < (%s::timestamptz, %s, %s)"
        args += list(decode_cursor(cursor))
    sql = (
        f"SELECT {_COLUMNS} FROM dead_letters WHERE {where}"  # noqa: S608 - constants and placeholders only
        " ORDER BY failed_at DESC, dlq_partition DESC, dlq_offset DESC LIMIT %s"
    )
    return await _run(pool, sql, [*args, limit + 1])


async def count_letters(pool: aiopg.Pool, selection: Selection, cap: int) -> int:
    """How many letters match, counted up to ``cap`` (an index walk, never a full count of a huge table)."""
    where, args = _where(selection)
    inner = f"SELECT 1 FROM dead_letters WHERE {where} ORDER BY failed_at DESC LIMIT %s"  # noqa: S608
    rows = await _run(pool, f"SELECT count(*) FROM ({inner}) AS matching", [*args, cap])  # noqa: S608
    return int(rows[0][0])


async def select_for_replay(pool: aiopg.Pool, selection: Selection, limit: int) -> list[StoredLetter]:
    where, args = _where(selection)
    columns = "dlq_partition, dlq_offset, reason, source_topic, source_partition, source_offset, source_timestamp"
    order = "ORDER BY failed_at, dlq_partition, dlq_offset LIMIT %s"
    sql = f"SELECT {columns}, value FROM dead_letters WHERE {where} {order}"  # noqa: S608 - constants and placeholders only
    rows = await _run(pool, sql, [*args, limit])
    return [StoredLetter(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bytes(r[7])) for r in rows]


async def mark_replayed(pool: aiopg.Pool, refs: list[tuple[int, int]]) -> None:
    if refs:
        await _run(
            pool,
            "UPDATE dead_letters SET replayed_at = now(), replay_count = replay_count + 1"
            " WHERE (dlq_partition, dlq_offset) IN (SELECT * FROM unnest(%s::int[], %s::bigint[]))",
            [[p for p, _ in refs], [o for _, o in refs]],
            fetch=False,
        )


PRUNE_BATCH: Final = 10_000
_PRUNE: Final = """
WITH gone AS (
    DELETE FROM dead_letters WHERE (dlq_partition, dlq_offset) IN (
        SELECT dlq_partition, dlq_offset FROM dead_letters WHERE failed_at < %s LIMIT %s
    ) RETURNING 1
)
SELECT count(*) FROM gone
"""


async def prune(pool: aiopg.Pool, *, failed_before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete the dead letters that failed before ``failed_before``; returns how many.

    A batch per statement, so a backlog of millions is never one long
    transaction holding its row locks.
    """
    pruned = 0
    while True:
        rows = await _run(pool, _PRUNE, [failed_before, batch])
        deleted = int(rows[0][0])
        pruned += deleted
        if deleted < batch:
            return pruned
