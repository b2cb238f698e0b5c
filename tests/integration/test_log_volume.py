"""The volume counters on real PostgreSQL: always what ``logs`` holds, and histograms from them equal counting rows.

The counters are ``log_volume`` plus the deltas the triggers appended and
no fold has moved into it yet (:mod:`app.storage.volume`).

``log_volume`` is kept by triggers, so every way rows come and go is
checked against a plain ``GROUP BY`` over ``logs``: the persist statement
(a replayed batch inserts nothing and counts nothing), deletes, truncate,
the split of a day out of the default partition, retention's drop, and the
migration's backfill of rows stored before it.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiopg
import orjson
import psycopg2
import pytest

from app.domain.histogram import Histogram, histogram_sql, histogram_sql_from_rows
from app.domain.query import LogQuery
from app.storage import volume
from app.storage.migrate import MIGRATIONS_DIR, migrate
from app.storage.partitions import maintain
from app.storage.postgres import persist_batch

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
COUNTED = """SELECT to_timestamp(floor(extract(epoch FROM "timestamp") / 60) * 60), coalesce(organization_id, ''),
                    source, level, count(*) FROM logs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
# What the counters say: log_volume plus the deltas not folded into it yet.
KEPT = """SELECT minute, organization_id, source, level, sum(n)::bigint FROM (
              SELECT * FROM log_volume UNION ALL SELECT * FROM log_volume_delta) AS counters
          GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4"""


def events(count: int, *, start: datetime, seconds: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "id": str(uuid.uuid4()),
            "timestamp": (start + timedelta(seconds=rng.uniform(0, seconds))).isoformat(),
            "level": rng.choice(["DEBUG", "INFO", "WARN", "ERROR"]),
            "message": "m",
            "source": rng.choice(["api", "web", "db"]),
            "organization_id": rng.choice([None, "acme", "globex"]),
            "trace_id": None,
            "metadata": {},
        }
        for _ in range(count)
    ]


@pytest.fixture
async def pool(pool: aiopg.Pool) -> aiopg.Pool:
    """The migrated database's pool, with the partitions of yesterday to tomorrow in place."""
    await maintain(pool, days_ahead=1, retention_days=7)
    return pool


async def run(database_url: str, sql: str, args: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    def ask() -> list[tuple[Any, ...]]:
        with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            rows: list[tuple[Any, ...]] = cur.fetchall() if cur.description else []
        conn.close()
        return rows

    return await asyncio.to_thread(ask)


async def assert_in_step(database_url: str) -> list[tuple[Any, ...]]:
    kept, counted = await run(database_url, KEPT), await run(database_url, COUNTED)
    assert kept == counted
    return kept


async def test_the_counters_follow_every_write(pool: aiopg.Pool, database_url: str) -> None:
    batch = events(400, start=NOW - timedelta(hours=2), seconds=7200, seed=1)
    assert (await persist_batch(pool, batch, partition=0, end_offset=400)).inserted == 400
    replayed = await persist_batch(
        pool, [*batch[:100], *events(50, start=NOW, seconds=60, seed=2)], partition=0, end_offset=550
    )
    assert replayed.inserted == 50  # the replayed hundred are neither stored nor counted again
    kept = await assert_in_step(database_url)
    assert sum(row[4] for row in kept) == 450 and ("", "api") in {(r[1], r[2]) for r in kept}

    assert await volume.fold(pool)  # the deltas move into the counters, the sums stay
    assert await run(database_url, "SELECT count(*) FROM log_volume_delta") == [(0,)]
    assert await assert_in_step(database_url) == kept

    await run(database_url, "DELETE FROM logs WHERE source = 'api' OR level = 'DEBUG'")
    kept = await assert_in_step(database_url)
    assert kept and all(row[2] != "api" and row[3] != "DEBUG" and row[4] > 0 for row in kept)
    await volume.fold(pool)
    assert await assert_in_step(database_url) == kept

    await run(database_url, "TRUNCATE logs")
    assert await run(database_url, KEPT) == []


async def test_writers_of_the_same_counters_do_not_wait_for_each_other(pool: aiopg.Pool, database_url: str) -> None:
    """Two persist transactions of the same minute's events: the second commits while the first is still open
    (counters updated in place would hold it until the first commits), and one fold at a time."""
    same = events(200, start=NOW.replace(second=0), seconds=30, seed=7)
    async with pool.acquire() as first, first.cursor() as held:
        await held.execute("BEGIN")
        await held.execute(
            """INSERT INTO logs (id, "timestamp", level, message, source, organization_id)
               SELECT (e->>'id')::uuid, (e->>'timestamp')::timestamptz, e->>'level', 'm', e->>'source',
                      e->>'organization_id' FROM jsonb_array_elements(%s::jsonb) AS e""",
            (orjson.dumps(same[:100]).decode(),),
        )
        await asyncio.wait_for(persist_batch(pool, same[100:], partition=1, end_offset=100), timeout=5)
        async with pool.acquire() as other, other.cursor() as cur:
            await cur.execute("BEGIN; SELECT pg_advisory_xact_lock(%s)", (volume.FOLD_LOCK,))
            assert await volume.fold(pool) is None  # another worker folds: this one does not wait
            await cur.execute("COMMIT")
        await held.execute("COMMIT")
    kept = await assert_in_step(database_url)
    assert sum(row[4] for row in kept) == 200


async def test_partition_maintenance_keeps_the_counters_in_step(pool: aiopg.Pool, database_url: str) -> None:
    """A day split out of the default partition moves rows without a trigger (counters unchanged, still right);
    retention drops a day's partition and its counters with it."""
    ahead = datetime.combine(NOW.date() + timedelta(days=3), datetime.min.time(), UTC)  # in logs_default for now
    old = NOW - timedelta(days=2)
    await persist_batch(pool, events(100, start=ahead, seconds=3600, seed=3), partition=0, end_offset=100)
    await persist_batch(pool, events(100, start=old, seconds=3600, seed=4), partition=0, end_offset=200)
    await persist_batch(
        pool, events(100, start=NOW - timedelta(hours=1), seconds=3000, seed=5), partition=0, end_offset=300
    )
    async with aiopg.create_pool(database_url, minsize=1, maxsize=1) as admin:
        split = await maintain(admin, days_ahead=3, retention_days=7)
        assert f"logs_{ahead:%Y%m%d}" in split.created
        await assert_in_step(database_url)
        dropped = await maintain(admin, days_ahead=3, retention_days=1)
    assert f"logs_{old:%Y%m%d}" in dropped.dropped
    kept = await assert_in_step(database_url)
    assert sum(row[4] for row in kept) == 200 and min(row[0] for row in kept) >= NOW - timedelta(days=1, hours=1)


async def test_the_migration_counts_the_rows_stored_before_it(database_url: str, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "007":
            shutil.copy(path, before / path.name)
    await migrate(database_url, before)
    await run(
        database_url,
        """INSERT INTO logs (id, "timestamp", level, message, source, organization_id)
           SELECT gen_random_uuid(), now() - i * interval '7 seconds', (ARRAY['INFO','ERROR'])[1 + i % 2], 'm',
                  's' || i % 3, CASE WHEN i % 4 = 0 THEN NULL ELSE 'org' || i % 2 END
           FROM generate_series(1, 3000) AS i""",
    )
    assert (await migrate(database_url))[0] == "007_log_volume.sql"
    kept = await assert_in_step(database_url)
    assert sum(row[4] for row in kept) == 3000


@pytest.mark.parametrize(
    "query",
    [
        LogQuery(),
        LogQuery(levels=("ERROR",)),
        LogQuery(levels=("ERROR", "WARN"), source="web"),
        LogQuery(organization_id="acme"),
        LogQuery(source="db", organization_id="globex"),
    ],
)
@pytest.mark.parametrize("seconds", [60, 300, 1800])
async def test_a_histogram_from_the_counters_equals_one_counting_rows(
    pool: aiopg.Pool, database_url: str, query: LogQuery, seconds: int
) -> None:
    start = NOW - timedelta(hours=3)
    await persist_batch(pool, events(3000, start=start, seconds=3 * 3600, seed=6), partition=0, end_offset=3000)
    # Ragged edges, a part of a minute at each end, and an end that is itself counted.
    histogram = Histogram(start + timedelta(seconds=1337.25), NOW - timedelta(seconds=1201.5), seconds)
    await volume.fold(pool)
    await persist_batch(pool, events(500, start=start, seconds=3 * 3600, seed=8), partition=0, end_offset=3500)
    sql, args = histogram_sql(query, histogram)  # from folded counters and deltas not folded yet
    assert "log_volume" in sql
    from_counters = await run(database_url, sql, args)
    rows_sql, rows_args = histogram_sql_from_rows(query, histogram)
    from_rows = await run(database_url, rows_sql, rows_args)
    assert [(int(b), level, int(n)) for b, level, n in from_counters] == from_rows
    assert sum(n for _, _, n in from_rows) > 0
