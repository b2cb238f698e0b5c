"""The count table rebuilt from the rows on real PostgreSQL: one snapshot, and the deltas it already holds.

A delta's rows are in the recount exactly when the snapshot saw the
transaction that recorded it: committed before, counted and left out after;
committed after (or still open while the rows were counted), folded in.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiopg
import pytest

from app.domain.counting import epoch_minute, tenant_counter
from app.storage.postgres import persist_batch
from app.storage.recount import recount

pytestmark = pytest.mark.integration


def event(source: str, level: str = "INFO", organization_id: str | None = None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "level": level,
        "message": f"{source} did something",
        "source": source,
        "organization_id": organization_id,
        "trace_id": None,
        "metadata": {},
    }


async def test_the_recount_is_the_group_by_and_its_snapshot_saw_the_batches_before_it(pool: aiopg.Pool) -> None:
    first = await persist_batch(pool, [event("api"), event("web", "ERROR", "acme")], partition=0, end_offset=1)
    second = await persist_batch(pool, [event("api", "WARN", "acme")], partition=1, end_offset=0)
    now = datetime.now(UTC)
    counted = await recount(pool, now)
    later = await persist_batch(pool, [event("db")], partition=0, end_offset=2)

    n = {key: value["n"] for key, value in counted.counters.items()}
    assert (n["total"], n["level:INFO"], n["level:ERROR"], n["level:WARN"]) == (3, 1, 1, 1)
    assert (n["source:api"], n["source:web"], n["org:acme"]) == (2, 1, 2)
    assert (n[tenant_counter("acme", "total")], n[tenant_counter("acme", "level:WARN")]) == (2, 1)
    assert counted.rows == 3
    this_minute = {key: value for key, value in counted.counters.items() if key.startswith("minute:")}
    assert [(v["n"], v["m"]) for v in this_minute.values()] == [(3, epoch_minute(now))], "stored this minute"
    recorded = [*first.pending, *second.pending]
    assert all(counted.snapshot.saw(d.xid) for d in recorded), "their rows are counted: left out"
    assert not counted.snapshot.saw(later.pending[-1].xid), "committed after: folded in"


async def test_a_batch_still_open_while_the_rows_are_counted_is_not_in_the_snapshot(pool: aiopg.Pool) -> None:
    """Its rows are not counted, so its delta must fold in, whenever it commits."""
    may_commit = asyncio.Event()
    inserted = asyncio.Event()

    async def turn() -> int | None:
        inserted.set()
        await may_commit.wait()
        return None

    open_batch = asyncio.create_task(persist_batch(pool, [event("api")], partition=2, end_offset=5, wait_turn=turn))
    await asyncio.wait_for(inserted.wait(), timeout=10)
    counted = await recount(pool, datetime.now(UTC))
    may_commit.set()
    result = await open_batch
    assert counted.rows == 0 and counted.counters == {}
    assert not counted.snapshot.saw(result.pending[-1].xid)


async def test_rows_stored_over_an_hour_ago_count_in_no_minute(pool: aiopg.Pool, database_url: str) -> None:
    await persist_batch(pool, [event("api"), event("api")], partition=0, end_offset=0)
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("UPDATE logs SET received_at = received_at - interval '61 minutes'")
    counted = await recount(pool, datetime.now(UTC) + timedelta(seconds=1))
    assert counted.rows == 2 and not any(key.startswith("minute:") for key in counted.counters)
