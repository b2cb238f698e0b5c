"""Every query the API can issue uses an index on a logs table of 100k rows: EXPLAIN says so.

The rows span a week, so they sit in seven daily partitions: no partition may be scanned either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiopg
import psycopg2
import pytest

from app.domain.context import context_sql
from app.domain.field_filters import FieldFilter
from app.domain.query import Cursor, LogQuery
from app.domain.query_sql import (
    COLUMNS,
    _after_cursor,
    _where,
    count_sql,
    level_counts_sql,
    select_sql,
    window_count_sql,
)
from app.domain.query_walks import first_scan, gin_windows, recent_sql
from app.storage import reads
from app.storage.migrate import migrate
from app.storage.partitions import maintain
from app.storage.postgres import _INSERT, LATENCY_SETTINGS, connect_pool

pytestmark = pytest.mark.integration
ROWS = 100_000
NOW = datetime.now(UTC)


async def split_into_days(database_url: str) -> list[str]:
    async with aiopg.create_pool(database_url, minsize=1, maxsize=1) as pool:
        done = await maintain(pool, days_ahead=1, retention_days=30)
    return done.created


def seed(database_url: str) -> None:
    asyncio.run(migrate(database_url))
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO logs (id, "timestamp", level, message, source, organization_id, metadata)
            SELECT gen_random_uuid(),
                   now() - (i * interval '6 seconds'),
                   (ARRAY['TRACE','DEBUG','INFO','WARN','ERROR','FATAL'])[1 + mod(i, 6)],
                   (ARRAY['request served', 'connection timeout to db', 'user logged in', 'cache miss',
                          'payment declined', 'disk almost full'])[1 + mod(i / 7, 6)] || ' #' || i,
                   'svc-' || mod(i, 50),
                   CASE WHEN mod(i, 11) = 0 THEN NULL ELSE 'org-' || mod(i, 10) END,
                   jsonb_build_object('n', i, 'fields', jsonb_build_object(
                       'status', CASE WHEN mod(i, 10) = 0 THEN 500 ELSE 200 END, 'user.id', 'u' || mod(i, 5000)))
            FROM generate_series(1, %s) AS i
            """,
            (ROWS,),
        )
    conn.close()
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    created = asyncio.run(split_into_days(database_url))
    assert len(created) >= 7, created  # the week of seeded rows now sits in daily partitions
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE logs")
    conn.close()


def seq_scans(plan: dict[str, Any], rows_of: dict[str, int] | None = None) -> list[str]:
    """Sequential scans of ``logs`` or of a partition holding rows (an empty one is rightly scanned)."""
    found = []
    relation = str(plan.get("Relation Name", ""))
    sizable = relation == "logs" or (relation.startswith("logs_") and (rows_of or {}).get(relation, 1) >= 1000)
    if plan.get("Node Type") == "Seq Scan" and sizable:
        found.append(f"{relation}: {plan.get('Filter', '(no filter)')}")
    for child in plan.get("Plans", []):
        found.extend(seq_scans(child, rows_of))
    return found


def queries() -> list[LogQuery]:
    cursor = Cursor((NOW - timedelta(hours=2)).isoformat(), "00000000-0000-4000-8000-000000000000", 0.05)
    combos = itertools.product(
        [(), ("ERROR",), ("INFO", "WARN")],
        [None, "svc-7"],
        [None, "org-3"],
        [None, NOW - timedelta(days=2)],
        [None, NOW - timedelta(hours=1)],
        [None, "timeout", "4242"],
        [(None, None), (cursor, None), (None, 3)],  # (cursor, page): the first page, a later one, page 3
    )
    return [
        LogQuery(
            levels=levels,
            source=source,
            organization_id=org,
            start=start,
            end=end,
            text=text,
            limit=100,
            cursor=paging[0],
            page=paging[1],
        )
        for levels, source, org, start, end, text, paging in combos
    ]


def test_no_query_scans_the_logs_table(database_url: str) -> None:
    seed(database_url)
    statements: list[tuple[str, dict[str, Any]]] = []
    for query in queries():
        statements.append(select_sql(query))
        for scan in (first_scan(query), 4 * first_scan(query)):
            if (recent := recent_sql(query, scan)) is not None:
                statements.append(recent)
        if query.page is not None:
            statements.append(count_sql(query))
    for hours in (1, 24, 24 * 30):
        statements.append(level_counts_sql(NOW - timedelta(hours=hours)))
    statements.append(("SELECT * FROM logs WHERE id = %(id)s", {"id": "00000000-0000-4000-8000-000000000000"}))

    offenders = []
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(LATENCY_SETTINGS)  # plan as the worker's connections do
        cur.execute("SELECT tableoid::regclass::text, count(*) FROM logs GROUP BY 1")
        rows_of = dict(cur.fetchall())
        assert sum(rows_of.values()) == ROWS
        assert max(rows_of.values()) < ROWS / 5, f"rows not split into days: {rows_of}"
        for sql, args in statements:
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, args)
            plan = cur.fetchone()[0][0]["Plan"]
            if scans := seq_scans(plan, rows_of):
                offenders.append((sql, args, scans, json.dumps(plan)[:400]))
    conn.close()
    print(
        f"\nEXPLAINed {len(statements)} statements on {ROWS:,} rows in {len(rows_of)} partitions;"
        f" sequential scans of a partition with rows: {len(offenders)}"
    )
    assert not offenders, "\n\n".join(f"{sql}\n{args}\n{scans}" for sql, args, scans, _ in offenders[:5])


def _reference_sql(query: LogQuery) -> tuple[str, dict[str, Any]]:
    """The plain form the index walks must agree with: every condition in one WHERE, one sort."""
    conditions, args = _where(query)
    _after_cursor(query, conditions, args)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args["ref_limit"], args["ref_offset"] = query.limit + 1, (query.page or 0) * query.limit
    order = '"timestamp" DESC, id DESC'
    sql = f"SELECT {COLUMNS} FROM logs {where} ORDER BY {order} LIMIT %(ref_limit)s OFFSET %(ref_offset)s"
    return sql, args


async def _fetch_pages(database_url: str, queries: list[LogQuery]) -> list[list[Any]]:
    pool = await connect_pool(database_url, 2)
    try:
        return [await reads.fetch_page(pool, query) for query in queries]
    finally:
        pool.close()
        await pool.wait_closed()


def test_index_walks_give_the_rows_of_one_sorted_query(database_url: str) -> None:
    """Merged per-level walks (both forms), and text looked for in walks over the newest rows, return what one plain
    query does: every query the API can issue, through the function that answers it."""
    seed(database_url)
    every = queries()
    pages = asyncio.run(_fetch_pages(database_url, every))
    lateral = branches = walked = not_walked = 0
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        for query, rows in zip(every, pages, strict=True):
            cur.execute(*_reference_sql(query))
            assert [(str(row[0]), *row[1:]) for row in rows] == cur.fetchall(), query  # aiopg gives UUIDs
            first_walk = recent_sql(query)
            sql = (first_walk or select_sql(query))[0]
            lateral += "LATERAL" in sql
            branches += "UNION ALL" in sql
            if first_walk is not None:
                cur.execute(*first_walk)
                if len(cur.fetchall()) > query.limit:
                    walked += 1
                else:
                    not_walked += 1
    conn.close()
    print(
        f"\nagree with one sorted query: per-level walks merged {lateral} as LATERAL, {branches} as branches;"
        f" text {walked} found by the first walk, {not_walked} not"
    )
    assert lateral >= 24 and branches >= 24 and walked >= 24 and not_walked >= 24


NEWEST_MESSAGES = (
    "PAYMENT Declined for card 4242",
    "Payment-declined, retrying",
    "payments declined in bulk",
    "declined: payment (second try)",
    "Disk ALMOST full on /var",
    "user's payment declined",
)
TEXTS = (
    "payment declined",
    "PAYMENT",
    '"payment declined"',
    "Declined 4242",
    "disk almost full",
    "payment or disk",
    "payment -declined",
    "payment-declined",
    "user's",
)


def test_a_text_walk_finds_what_the_full_text_test_finds_whatever_the_case(database_url: str) -> None:
    """The words a walk requires first (required_terms) must never reject a row the full-text test matches."""
    seed(database_url)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        for i, message in enumerate(NEWEST_MESSAGES):
            cur.execute(
                """INSERT INTO logs (id, "timestamp", level, message, source)
                   VALUES (gen_random_uuid(), now() + %s * interval '1 ms', 'INFO', %s, 'svc-x')""",
                (i, message),
            )
    every = [LogQuery(text=text, limit=10) for text in TEXTS]
    pages = asyncio.run(_fetch_pages(database_url, every))
    with conn.cursor() as cur:
        for query, rows in zip(every, pages, strict=True):
            cur.execute(*_reference_sql(query))
            assert [(str(row[0]), *row[1:]) for row in rows] == cur.fetchall(), query
    conn.close()
    found = {text: {row[3] for row in rows} & set(NEWEST_MESSAGES) for text, rows in zip(TEXTS, pages, strict=True)}
    assert found["payment declined"] == set(NEWEST_MESSAGES) - {"Disk ALMOST full on /var", "payments declined in bulk"}
    assert found["PAYMENT"] == found["payment declined"] and found["Declined 4242"] == {NEWEST_MESSAGES[0]}
    assert found["disk almost full"] == {"Disk ALMOST full on /var"}


STALE_ROWS = 300_000


async def _partitions_ahead(database_url: str, days: int) -> None:
    async with aiopg.create_pool(database_url, minsize=1, maxsize=1) as pool:
        await maintain(pool, days_ahead=days, retention_days=30)


def test_persist_statement_probes_the_index_however_stale_the_statistics(database_url: str) -> None:
    """The duplicate check must stay per-row index probes, never read the day's partition per batch.

    A new day's partition that autovacuum has not analysed yet, after a burst of rows: what
    every day looks like to the planner for a while.
    """
    asyncio.run(migrate(database_url))
    asyncio.run(_partitions_ahead(database_url, days=4))
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(
            """INSERT INTO logs (id, "timestamp", level, message, source, metadata)
               SELECT gen_random_uuid(), now() - i * interval '10 ms', 'INFO',
                      'request ' || i || ' served in ' || mod(i, 997) || ' ms', 'svc-' || mod(i, 25),
                      jsonb_build_object('route', '/api/orders', 'n', i)
               FROM generate_series(1, %s) AS i""",
            (STALE_ROWS,),
        )
        batch = [
            {"id": str(uuid.uuid4()), "timestamp": NOW.isoformat(), "level": "INFO", "message": "m", "source": "s"}
            for _ in range(500)
        ]
        cur.execute("SELECT tableoid::regclass::text, count(*) FROM logs GROUP BY 1")
        rows_of = dict(cur.fetchall())
        cur.execute("BEGIN")
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _INSERT, (json.dumps(batch),))
        plan = cur.fetchone()[0][0]["Plan"]
        cur.execute("ROLLBACK")
    conn.close()
    scans = seq_scans(plan, rows_of)
    print(f"\npersist statement, 500 rows against {STALE_ROWS:,} with stale statistics: sequential scans {scans}")
    assert not scans, json.dumps(plan)[:2000]


async def test_the_pool_plans_without_jit_or_parallel_workers(database_url: str) -> None:
    """A rare word's misestimated row count must not buy a JIT compile or parallel workers that outlast the query."""
    await migrate(database_url)
    pool = await connect_pool(database_url, 2)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SHOW jit")
            assert (await cur.fetchone())[0] == "off"
            await cur.execute("SHOW max_parallel_workers_per_gather")
            assert (await cur.fetchone())[0] == "0"
    finally:
        pool.close()
        await pool.wait_closed()


@pytest.mark.parametrize("rows", [10, 500])
def test_context_walks_the_source_index_and_gives_the_plainly_sorted_neighbours(database_url: str, rows: int) -> None:
    seed(database_url)
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(LATENCY_SETTINGS)
        cur.execute(
            f"SELECT {COLUMNS} FROM logs WHERE mod((metadata->>'n')::int, 1111) IN (0, 5)"
            " ORDER BY (metadata->>'n')::int LIMIT 40"  # every 11th has no organization: both kinds
        )
        hits = cur.fetchall()
        assert any(hit[5] is None for hit in hits) and any(hit[5] is not None for hit in hits)
        timings = []
        for hit in hits:
            for newer in (False, True):
                sql, args = context_sql(tuple(hit), rows, newer=newer)
                cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, args)
                explained = cur.fetchone()[0][0]
                assert not seq_scans(explained["Plan"]), json.dumps(explained["Plan"])[:600]
                timings.append(explained["Planning Time"] + explained["Execution Time"])
                cur.execute(sql, args)
                walked = cur.fetchall()
                org = "organization_id IS NULL" if hit[5] is None else "organization_id = %(org)s"
                compare, order = (">", "ASC") if newer else ("<", "DESC")
                cur.execute(
                    f"SELECT {COLUMNS} FROM logs WHERE source = %(source)s AND {org}"
                    f' AND ("timestamp", id) {compare} (%(ts)s, %(id)s::uuid)'
                    f' ORDER BY "timestamp" {order}, id {order} LIMIT %(rows)s',
                    args,
                )
                assert walked == cur.fetchall()
    conn.close()
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    median = timings[len(timings) // 2]
    print(f"\ncontext, {rows} a side, {len(timings)} walks on {ROWS:,} rows: median {median:.2f} ms, p95 {p95:.2f} ms")


WHOLE_DAY = 86400 // 6  # seeded rows in a day's partition
COMMON = FieldFilter("status", ("500",))  # every 10th row, as a JSON number
RARE = FieldFilter("user.id", ("u42",))  # 20 rows of 100,000
ANY_OF = FieldFilter("status", ("404", "500"))


def field_queries() -> list[LogQuery]:
    cursor = Cursor((NOW - timedelta(hours=30)).isoformat(), "00000000-0000-4000-8000-000000000000")
    combos = itertools.product(
        [(COMMON,), (RARE,), (ANY_OF, RARE)],
        [(), ("ERROR",), ("INFO", "WARN")],
        [None, "svc-7"],
        [None, "org-2"],
        [None, "timeout"],
        [("cursor", None), ("cursor", cursor), ("page", 2)],
    )
    return [
        LogQuery(
            fields=fields,
            levels=levels,
            source=source,
            organization_id=org,
            text=text,
            limit=50,
            cursor=paging[1] if paging[0] == "cursor" else None,  # type: ignore[arg-type]
            page=paging[1] if paging[0] == "page" else None,  # type: ignore[arg-type]
        )
        for fields, levels, source, org, text, paging in combos
    ]


def index_scans(plan: dict[str, Any]) -> set[str]:
    found = {str(plan["Index Name"])} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= index_scans(child)
    return found


def test_field_filters_use_the_metadata_index_and_give_the_plainly_sorted_rows(database_url: str) -> None:
    seed(database_url)
    every = field_queries()
    pages = asyncio.run(_fetch_pages(database_url, every))
    offenders, walked, metadata_index = [], 0, 0
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(LATENCY_SETTINGS)
        cur.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'logs'::regclass")
        partitions = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'logs_metadata_idx'::regclass")
        assert cur.fetchone()[0] == partitions, "every partition, the ones maintenance created too, has the index"
        cur.execute("SELECT tableoid::regclass::text, count(*) FROM logs GROUP BY 1")
        # A containment test costs about what reading the row does, so the planner rightly reads a partition of a few
        # thousand rows whole (5,000 rows: 1.7 ms); where it turns to the index depends on the filter, and the two
        # partial days (today's and the oldest) hold more or fewer rows by the hour the test runs. The whole days,
        # 14,400 rows each, must never be read whole.
        rows_of = {name: n for name, n in cur.fetchall() if n >= WHOLE_DAY}
        for query, rows in zip(every, pages, strict=True):
            cur.execute(*_reference_sql(query))
            assert [(str(row[0]), *row[1:]) for row in rows] == cur.fetchall(), query
            statements = [select_sql(query)] + ([count_sql(query)] if query.page is not None else [])
            if (first_walk := recent_sql(query)) is not None:
                statements.append(first_walk)
                cur.execute(*first_walk)
                walked += len(cur.fetchall()) > query.limit
            statements += [select_sql(dataclasses.replace(query, start=since)) for since in gin_windows(query, NOW)]
            for window in (timedelta(minutes=5), timedelta(hours=6)):
                statements.append(window_count_sql(query, NOW - window, NOW))
            for sql, args in statements:
                cur.execute("EXPLAIN (FORMAT JSON) " + sql, args)
                plan = cur.fetchone()[0][0]["Plan"]
                if scans := seq_scans(plan, rows_of):
                    offenders.append((sql, args, scans))
                metadata_index += any("metadata" in name for name in index_scans(plan))
        cur.execute(
            "EXPLAIN (ANALYZE, COSTS OFF) " + (rare := select_sql(LogQuery(fields=(RARE,), limit=100)))[0], rare[1]
        )
        rare_plan = "\n".join(line for (line,) in cur.fetchall())
    conn.close()
    print(
        f"\nfield filters: {len(every)} queries agree with one sorted query; the first walk filled {walked} pages;"
        f" {metadata_index} plans use the metadata index. field.user.id=u42, the GIN form:\n{rare_plan}"
    )
    assert not offenders, "\n\n".join(f"{sql}\n{args}\n{scans}" for sql, args, scans in offenders[:5])
    assert metadata_index > len(every), "the GIN forms and counts find their rows through the metadata index"
    assert walked > 0
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        for fields, fills in (((COMMON,), True), ((RARE,), False)):
            cur.execute(*recent_sql(LogQuery(fields=fields, limit=50)))  # type: ignore[misc]
            assert (len(cur.fetchall()) > 50) is fills, "a common value's page is walked to, a rare one's is not"
    conn.close()
    assert "Bitmap Index Scan on logs_" in rare_plan and "metadata_idx" in rare_plan
