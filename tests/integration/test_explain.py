"""Every query the API can issue uses an index on a logs table of 100k rows: EXPLAIN says so."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
import pytest

from app.query import Cursor, LogQuery, count_sql, level_counts_sql, select_sql
from app.storage.migrate import migrate

pytestmark = pytest.mark.integration
ROWS = 100_000
NOW = datetime.now(UTC)


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
                   jsonb_build_object('n', i)
            FROM generate_series(1, %s) AS i
            """,
            (ROWS,),
        )
    conn.close()
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE logs")
    conn.close()


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") == "logs":
        found.append(plan.get("Filter", "(no filter)"))
    for child in plan.get("Plans", []):
        found.extend(seq_scans(child))
    return found


def queries() -> list[LogQuery]:
    cursor = Cursor((NOW - timedelta(hours=2)).isoformat(), "00000000-0000-4000-8000-000000000000", 0.05)
    combos = itertools.product(
        [(), ("ERROR",), ("INFO", "WARN")],
        [None, "svc-7"],
        [None, "org-3"],
        [None, NOW - timedelta(days=2)],
        [None, NOW - timedelta(hours=1)],
        [None, "timeout"],
        [("cursor", None), ("cursor", cursor), ("page", 3)],
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
            cursor=paging[1] if paging[0] == "cursor" else None,
            page=paging[1] if paging[0] == "page" else None,  # type: ignore[arg-type]
        )
        for levels, source, org, start, end, text, paging in combos
    ]


def test_no_query_scans_the_logs_table(database_url: str) -> None:
    seed(database_url)
    statements: list[tuple[str, dict[str, Any]]] = []
    for query in queries():
        statements.append(select_sql(query))
        if query.page is not None:
            statements.append(count_sql(query))
    for hours in (1, 24, 24 * 30):
        statements.append(level_counts_sql(NOW - timedelta(hours=hours)))
    statements.append(("SELECT * FROM logs WHERE id = %(id)s", {"id": "00000000-0000-4000-8000-000000000000"}))

    offenders = []
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM logs")
        assert cur.fetchone() == (ROWS,)
        for sql, args in statements:
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, args)
            plan = cur.fetchone()[0][0]["Plan"]
            if scans := seq_scans(plan):
                offenders.append((sql, args, scans, json.dumps(plan)[:400]))
    conn.close()
    print(f"\nEXPLAINed {len(statements)} statements on {ROWS:,} rows; sequential scans: {len(offenders)}")
    assert not offenders, "\n\n".join(f"{sql}\n{args}\n{scans}" for sql, args, scans, _ in offenders[:5])
