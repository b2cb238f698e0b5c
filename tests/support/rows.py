"""What landed in PostgreSQL, read with psycopg2.

These block: an async test calls them through ``asyncio.to_thread`` or as
a plain ``wait_for`` condition (which runs in a thread), never directly on
the event loop.
"""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.errors


def query(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows ``sql`` returns (none for a statement that returns none), on a connection of its own."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        rows: list[tuple[Any, ...]] = cur.fetchall() if cur.description else []
    conn.close()
    return rows


def row_count(database_url: str) -> int:
    """Rows in ``logs``; 0 before the worker created the table."""
    try:
        return int(query(database_url, "SELECT count(*) FROM logs")[0][0])
    except psycopg2.errors.UndefinedTable:
        return 0


def rows_of(database_url: str, source: str) -> tuple[int, int]:
    """(rows, distinct ids) of one source: a test's own events, apart from anyone else's."""
    ((rows, ids),) = query(database_url, "SELECT count(*), count(DISTINCT id) FROM logs WHERE source = %s", source)
    return int(rows), int(ids)
