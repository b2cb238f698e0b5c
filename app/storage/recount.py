"""The live counts read back from the rows, for a count table that lost its changelog.

The dev broker keeps topics in memory: when it comes back empty, the count
table's changelog is gone while PostgreSQL still holds every row. One
``REPEATABLE READ`` transaction reads the snapshot it runs in and counts the
rows in that snapshot, so the caller knows exactly which recorded count
deltas the counts already hold (see :class:`app.domain.counting.Snapshot`).

One pass over ``logs`` gives both grouping sets: every row by level, source
and organization, and the last hour's rows by the minute they were stored
(``received_at``; the live per-minute counts use the minute a batch was
stored, which may be a minute later at a minute's edge). On 10M rows this is
a few seconds of sequential scan, once per changelog lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import aiopg

from app.domain.counting import WINDOW_MINUTES, CounterValue, Snapshot, rebuilt_counters
from app.storage import edge

_SNAPSHOT: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_current_snapshot()::text"
_COUNT: Final = """
SELECT GROUPING(level) = 1 AS by_minute, level, source, organization_id, minute, count(*)
FROM (
    SELECT level, source, organization_id,
           CASE WHEN received_at > %(since)s THEN floor(extract(epoch FROM received_at) / 60)::bigint END AS minute
    FROM logs) AS stored
GROUP BY GROUPING SETS ((level, source, organization_id), (minute, organization_id))
"""


@dataclass(frozen=True, slots=True)
class Recount:
    """The count table as the rows in ``snapshot`` make it, by table key."""

    counters: dict[str, CounterValue]
    snapshot: Snapshot
    snapshot_text: str
    rows: int


async def recount(pool: aiopg.Pool, now: datetime) -> Recount:
    """Count every stored row, in one snapshot (read only; it blocks no writer)."""
    since = now - timedelta(minutes=WINDOW_MINUTES)
    async with edge.transaction(pool, begin=False) as cur:
        await cur.execute(_SNAPSHOT)
        ((snapshot_text,),) = await cur.fetchall()
        await cur.execute(_COUNT, {"since": since})
        groups: list[tuple[str, str, str | None, int]] = []
        minutes: list[tuple[int, str | None, int]] = []
        for by_minute, level, source, organization_id, minute, n in await cur.fetchall():
            if not by_minute:
                groups.append((level, source, organization_id, int(n)))
            elif minute is not None:
                minutes.append((int(minute), organization_id, int(n)))
    return Recount(
        counters=rebuilt_counters(groups, minutes),
        snapshot=Snapshot.parse(snapshot_text),
        snapshot_text=snapshot_text,
        rows=sum(n for *_, n in groups),
    )
