"""Retention drops whole daily partitions and old dead letters; the migration to partitions keeps every row."""

from __future__ import annotations

import asyncio
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiopg
import psycopg2
import pytest

from app.agents.retention import enforce
from app.settings import Settings
from app.storage import letter_rows
from app.storage.migrate import MIGRATIONS_DIR, migrate
from app.storage.partitions import GIN_PENDING_LIST_KB, maintain
from tests.support.rows import query

pytestmark = pytest.mark.integration


async def run(database_url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    return await asyncio.to_thread(query, database_url, sql, *args)


async def insert_days(database_url: str, days_ago: list[int], per_day: int) -> None:
    for days in days_ago:
        await run(
            database_url,
            """INSERT INTO logs (id, "timestamp", level, message, source)
               SELECT gen_random_uuid(), now() - %s * interval '1 day' - i * interval '1 second', 'INFO', 'm', 's'
               FROM generate_series(1, %s) AS i""",
            days,
            per_day,
        )


async def maintained(database_url: str, retention_days: int) -> tuple[list[str], list[str]]:
    async with aiopg.create_pool(database_url, minsize=1, maxsize=1) as pool:
        done = await maintain(pool, days_ahead=2, retention_days=retention_days)
    return done.created, done.dropped


async def partitions(database_url: str) -> list[str]:
    rows = await run(
        database_url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'logs'::regclass ORDER BY 1",
    )
    return [str(r[0]) for r in rows]


async def test_old_partitions_are_dropped_and_the_rest_kept(database_url: str) -> None:
    await migrate(database_url)
    await insert_days(database_url, [1, 3, 10, 20], per_day=100)
    created, _ = await maintained(database_url, retention_days=30)
    assert len(created) >= 4
    assert await run(database_url, "SELECT count(*) FROM logs_default") == [(0,)], "every day split out of the default"

    _, dropped = await maintained(database_url, retention_days=7)
    today = datetime.now(UTC).date()
    old = {f"logs_{today - timedelta(days=d):%Y%m%d}" for d in (10, 20)}
    assert old <= set(dropped)
    assert not old & set(await partitions(database_url))
    assert await run(database_url, "SELECT count(*) FROM logs") == [(200,)], "days 1 and 3 are kept"
    assert f"logs_{today + timedelta(days=2):%Y%m%d}" in await partitions(database_url), "partitions created ahead"
    print(f"\ndropped {sorted(old)}; kept {len(await partitions(database_url))} partitions")


async def insert_dead_letters(database_url: str, partition: int, days_ago: float, count: int) -> None:
    await run(
        database_url,
        """INSERT INTO dead_letters (dlq_partition, dlq_offset, reason, failed_at, value)
           SELECT %s, i, 'invalid_field', now() - %s * interval '1 day', 'x' FROM generate_series(1, %s) AS i""",
        partition,
        days_ago,
        count,
    )


async def dead_letters_by_partition(database_url: str) -> list[tuple[object, ...]]:
    return await run(database_url, "SELECT dlq_partition, count(*) FROM dead_letters GROUP BY 1 ORDER BY 1")


async def test_dead_letters_older_than_the_window_are_deleted_in_batches(database_url: str) -> None:
    await migrate(database_url)
    await insert_dead_letters(database_url, partition=0, days_ago=30, count=7)
    await insert_dead_letters(database_url, partition=1, days_ago=1, count=5)
    async with aiopg.create_pool(database_url, minsize=1, maxsize=1) as pool:
        cutoff = datetime.now(UTC) - timedelta(days=7)
        assert await letter_rows.prune(pool, failed_before=cutoff, batch=3) == 7
        assert await letter_rows.prune(pool, failed_before=cutoff, batch=3) == 0
    assert await dead_letters_by_partition(database_url) == [(1, 5)]


async def test_a_retention_pass_keeps_partitions_and_dead_letters_to_the_window(database_url: str) -> None:
    await migrate(database_url)
    settings = Settings()
    window = settings.retention_days
    await insert_dead_letters(database_url, partition=0, days_ago=window + 0.5, count=4)
    await insert_dead_letters(database_url, partition=1, days_ago=window - 0.5, count=6)
    async with aiopg.create_pool(database_url, minsize=1, maxsize=1) as pool:
        await enforce(pool, settings)
    assert await dead_letters_by_partition(database_url) == [(1, 6)]
    ahead = datetime.now(UTC).date() + timedelta(days=settings.partition_days_ahead)
    assert f"logs_{ahead:%Y%m%d}" in await partitions(database_url), "the partitions were maintained in the same pass"


def _migrations_before_partitions(into: Path) -> Path:
    """A schema directory holding the migrations before 004 (the logs table unpartitioned)."""
    into.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("00[123]_*.sql")):
        shutil.copy(path, into / path.name)
    return into


async def test_migration_from_an_unpartitioned_table_keeps_every_row(database_url: str, tmp_path: Path) -> None:
    earlier = await asyncio.to_thread(_migrations_before_partitions, tmp_path / "schemas")
    await migrate(database_url, earlier)
    await insert_days(database_url, [0, 2, 5], per_day=1000)
    summary = 'SELECT count(*), count(DISTINCT id), min("timestamp"), max("timestamp") FROM logs'
    before = await run(database_url, summary)

    applied = await migrate(database_url)
    later = sorted(path.name for path in MIGRATIONS_DIR.glob("*.sql") if path.name > "004")
    assert applied[0] == "004_partition_logs_by_day.sql" and applied == later, applied
    assert await run(database_url, summary) == before
    await maintained(database_url, retention_days=7)
    assert await run(database_url, "SELECT count(*) FROM logs") == [(3000,)]
    assert await run(database_url, "SELECT count(*) FROM logs_default") == [(0,)]
    print(f"\nmigrated {before[0][0]} rows into {len(await partitions(database_url))} partitions, none lost")


async def test_splitting_a_day_out_of_the_default_partition_while_rows_arrive(database_url: str) -> None:
    """Rows written to logs_default for a day whose partition is being created, while it is created, are
    neither lost nor in the way: the split holds writes to logs_default off while it copies and attaches,
    and a row that waited and now belongs to the new partition is refused with a partition-constraint
    error, which the persist agent retries (it is not a bad row)."""
    await migrate(database_url)
    day = datetime.now(UTC) + timedelta(days=2)  # created ahead by maintain(), not there yet
    insert = 'INSERT INTO logs (id, "timestamp", level, message, source) VALUES (gen_random_uuid(), %s, %s, %s, %s)'
    stored, refused, stop = [0], [0], threading.Event()

    def write_continuously() -> None:
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not stop.is_set():
                try:
                    cur.execute(insert, (day, "INFO", "m", "s"))
                    stored[0] += 1
                except psycopg2.errors.CheckViolation as exc:
                    assert "partition constraint" in str(exc)
                    refused[0] += 1
        conn.close()

    writer = threading.Thread(target=write_continuously)
    writer.start()
    try:
        await asyncio.sleep(0.3)
        created, _ = await maintained(database_url, retention_days=30)
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.to_thread(writer.join)
    assert f"logs_{day:%Y%m%d}" in created
    assert await run(database_url, "SELECT count(*) FROM logs_default") == [(0,)]
    assert await run(database_url, f'SELECT count(*) FROM "logs_{day:%Y%m%d}"') == [(stored[0],)], "every row stored"
    print(f"\nsplit a day out while {stored[0]} rows arrived ({refused[0]} refused for a retry)")


async def test_every_partition_text_index_gets_a_small_pending_list(database_url: str) -> None:
    await migrate(database_url)
    await insert_days(database_url, [1, 3], per_day=10)  # days in logs_default, split out by maintain()
    await maintained(database_url, retention_days=30)
    await maintained(database_url, retention_days=30)  # a second run finds nothing left to set
    rows = await run(
        database_url,
        """SELECT t.relname, idx.reloptions FROM pg_inherits AS part
           JOIN pg_class AS t ON t.oid = part.inhrelid
           JOIN pg_index AS i ON i.indrelid = part.inhrelid
           JOIN pg_class AS idx ON idx.oid = i.indexrelid
           JOIN pg_am AS am ON am.oid = idx.relam
           WHERE part.inhparent = 'logs'::regclass AND am.amname = 'gin'""",
    )
    tables = {str(table) for table, _ in rows}
    assert "logs_default" in tables and len(tables) >= 6, f"today +- the days ahead, and the split-out days: {tables}"
    assert {
        table: options for table, options in rows if options != [f"gin_pending_list_limit={GIN_PENDING_LIST_KB}"]
    } == {}
