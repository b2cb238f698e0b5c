"""The live counts (``/api/v1/stats``, from the count table) held against PostgreSQL's own ``GROUP BY``."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.rows import query
from tests.support.workers import Worker


def counts_in_postgres(database_url: str) -> tuple[int, dict[str, int]]:
    """(total, rows per level) by ``SELECT level, count(*) ... GROUP BY level``. Blocking."""
    levels = {str(level): int(n) for level, n in query(database_url, "SELECT level, count(*) FROM logs GROUP BY level")}
    return sum(levels.values()), levels


async def stats_of(worker: Worker) -> dict[str, Any]:
    """The counts a worker answers; anything but 200 fails the test."""
    status, body = await worker.fetch("/api/v1/stats")
    assert status == 200, body
    return {k: body[k] for k in ("total", "levels", "sources", "organizations")}


async def stats_match_rows(worker: Worker, database_url: str, *, must_answer: bool = False) -> bool:
    """Whether the worker's stats (total, per level) equal PostgreSQL's rows: a condition to wait for.

    False while the counts have not caught up, and while the worker does
    not answer 200, unless ``must_answer``: then that fails the test at once
    (with several workers, whichever is asked must answer for the table).
    """
    if must_answer:
        stats: Any = await stats_of(worker)
    else:
        status, stats = await worker.fetch("/api/v1/stats")
        if status != 200:
            return False
    total, levels = await asyncio.to_thread(counts_in_postgres, database_url)
    return bool(stats["total"] == total and stats["levels"] == levels)
