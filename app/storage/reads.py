"""Reading logs back: query pages, counts, one event, windowed level counts."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import aiopg

from app.domain.context import ContextWindow, context_sql
from app.domain.query import LogQuery
from app.domain.query_sql import COLUMNS, count_sql, level_counts_sql, select_sql
from app.domain.query_walks import first_scan, gin_windows, next_scan, recent_sql
from app.storage import edge


async def _fetch(pool: aiopg.Pool, sql: str, args: Any) -> list[Any]:
    return await edge.fetch(pool, sql, args)


async def fetch_rows(pool: aiopg.Pool, sql: str, args: Any) -> list[Any]:
    """Rows of a statement built by a pure SQL module (a histogram's, say)."""
    return await _fetch(pool, sql, args)


async def fetch_page(pool: aiopg.Pool, query: LogQuery) -> list[Any]:
    """Up to ``query.limit + 1`` rows (the extra one says a next page exists).

    Text and field filters are looked for among the newest rows first, in
    growing walks; only when they do not fill the page is a GIN index asked
    for every match (with field filters, over growing time windows first).
    """
    scan: int | None = first_scan(query)
    while scan is not None and (recent := recent_sql(query, scan)) is not None:
        rows = await _fetch(pool, *recent)
        if len(rows) > query.limit:
            return rows
        scan = next_scan(query, scan, len(rows))
    for since in gin_windows(query, datetime.now(UTC)):
        rows = await _fetch(pool, *select_sql(dataclasses.replace(query, start=since)))
        if len(rows) > query.limit:
            return rows
    sql, args = select_sql(query)
    return await _fetch(pool, sql, args)


async def count_matching(pool: aiopg.Pool, query: LogQuery) -> int:
    sql, args = count_sql(query)
    return int((await _fetch(pool, sql, args))[0][0])


async def get_event(pool: aiopg.Pool, event_id: uuid.UUID) -> Any | None:
    rows = await _fetch(pool, f"SELECT {COLUMNS} FROM logs WHERE id = %s", (str(event_id),))  # noqa: S608
    return rows[0] if rows else None


async def fetch_context(pool: aiopg.Pool, hit: Any, window: ContextWindow) -> tuple[list[Any], list[Any]]:
    """The hit's older and newer neighbours (same source and organization), each side in time order."""
    older: list[Any] = []
    newer: list[Any] = []
    if window.before:
        older = list(reversed(await _fetch(pool, *context_sql(tuple(hit), window.before, newer=False))))
    if window.after:
        newer = await _fetch(pool, *context_sql(tuple(hit), window.after, newer=True))
    return older, newer


async def level_counts_since(pool: aiopg.Pool, since: datetime, organization_id: str | None = None) -> dict[str, int]:
    """Events per level with a timestamp since ``since`` (the Java system's ``hoursBack``)."""
    sql, args = level_counts_sql(since, organization_id)
    return {level: int(n) for level, n in await _fetch(pool, sql, args) if n}
