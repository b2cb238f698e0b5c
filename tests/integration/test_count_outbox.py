"""The count outbox on real PostgreSQL: a batch's delta is recorded, relayed and forgotten in order.

A topic's offsets can start over while the database keeps its outbox (a
recreated ``logs.events``, a new broker over the same database). A delta left
from before must then not take the key of a new batch's delta, nor be relayed
beside it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import aiopg
import orjson
import pytest

from app.storage.postgres import Pending, persist_batch

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
MINUTE = int(NOW.timestamp()) // 60


def event(source: str, level: str = "INFO") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": NOW.isoformat(),
        "level": level,
        "message": f"{source} did something",
        "source": source,
        "organization_id": None,
        "trace_id": None,
        "metadata": {},
    }


def delta_of(source: str, n: int = 1, level: str = "INFO") -> dict[str, int]:
    return {f"level:{level}": n, f"source:{source}": n, "total": n, f"minute:{MINUTE}": n}


async def record_stale(pool: aiopg.Pool, partition: int, end_offset: int, delta: dict[str, int]) -> None:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            "INSERT INTO count_deltas (events_partition, end_offset, delta) VALUES (%s, %s, %s::jsonb)",
            (partition, end_offset, orjson.dumps(delta).decode()),
        )


def offsets_and_deltas(pending: Pending) -> list[tuple[int, dict[str, int]]]:
    return [(recorded.offset, recorded.delta) for recorded in pending]


async def store(
    pool: aiopg.Pool, events: list[dict[str, Any]], end_offset: int, relayed: int | None = None
) -> list[tuple[int, dict[str, int]]]:
    result = await persist_batch(pool, events, partition=1, end_offset=end_offset, relayed=relayed, now=NOW)
    return offsets_and_deltas(result.pending)


async def test_a_delta_left_at_the_same_offset_gives_way_to_the_new_batch(
    pool: aiopg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    await record_stale(pool, 1, 0, delta_of("checkout"))
    assert await store(pool, [event("billing")], end_offset=0) == [(0, delta_of("billing"))]
    assert "offsets [0] of logs.events[1]" in caplog.text, "the discarded delta is reported"


async def test_a_delta_left_past_the_new_batch_is_discarded_not_relayed(pool: aiopg.Pool) -> None:
    await record_stale(pool, 1, 7, delta_of("checkout"))
    assert await store(pool, [event("billing")], end_offset=2) == [(2, delta_of("billing"))]
    assert await store(pool, [event("billing")], end_offset=5, relayed=2) == [(5, delta_of("billing"))]


async def test_a_relayed_offset_past_the_new_batch_does_not_forget_its_delta(pool: aiopg.Pool) -> None:
    """The worker relayed the stale delta at 7 before the topic started over: 7 says nothing of offset 0."""
    assert await store(pool, [event("billing")], end_offset=0, relayed=7) == [(0, delta_of("billing"))]


async def test_earlier_deltas_still_pending_are_kept_and_relayed_in_order(pool: aiopg.Pool) -> None:
    assert await store(pool, [event("api")], end_offset=3) == [(3, delta_of("api"))]
    pending = await store(pool, [event("web"), event("web")], end_offset=9)
    assert pending == [(3, delta_of("api")), (9, delta_of("web", 2))]
    assert await store(pool, [event("web")], end_offset=12, relayed=9) == [(12, delta_of("web"))]


async def test_a_replayed_batch_records_nothing_and_discards_nothing(pool: aiopg.Pool) -> None:
    """After a crash the batches are read again, cut elsewhere: they insert nothing, so the outbox stays."""
    events = [event("api"), event("web"), event("db")]
    stored = {"level:INFO": 3, "source:api": 1, "source:web": 1, "source:db": 1, "total": 3, f"minute:{MINUTE}": 3}
    assert await store(pool, events, end_offset=20) == [(20, stored)]
    assert await store(pool, events[:1], end_offset=18) == [(20, stored)]


async def test_the_next_batch_inserts_while_the_one_before_commits_and_records_after_it(pool: aiopg.Pool) -> None:
    """What the persist pipeline relies on: the rows go in at once, the deltas are recorded in offset order."""
    first_may_commit = asyncio.Event()
    second_inserted = asyncio.Event()

    async def first_turn() -> int | None:
        await first_may_commit.wait()
        return None

    first = asyncio.create_task(
        persist_batch(pool, [event("api")], partition=1, end_offset=4, wait_turn=first_turn, now=NOW)
    )

    async def second_turn() -> int | None:
        second_inserted.set()
        await asyncio.wait({first})
        return None

    second = asyncio.create_task(
        persist_batch(pool, [event("web")], partition=1, end_offset=9, wait_turn=second_turn, now=NOW)
    )
    await asyncio.wait_for(second_inserted.wait(), timeout=10)
    assert not first.done(), "the second batch's rows went in while the first had not committed"
    first_may_commit.set()
    assert offsets_and_deltas((await first).pending) == [(4, delta_of("api"))]
    assert offsets_and_deltas((await second).pending) == [(4, delta_of("api")), (9, delta_of("web"))]
