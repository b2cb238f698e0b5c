"""The histogram's counters: what the triggers appended to ``log_volume_delta``, folded into ``log_volume``.

The triggers on ``logs`` (migration 007) only append, so that persist
transactions never wait on one another's counters; this fold keeps the
appended rows few. It moves every delta it sees into the counters in one
statement (the deletion and the addition commit together, so a reader,
which adds both tables up, sees each delta in exactly one of them), and an
advisory lock lets one worker fold at a time.
"""

from __future__ import annotations

from typing import Final

import aiopg

from app.storage import edge

FOLD_LOCK: Final = 0x766F6C75  # "volu": the advisory lock one folding worker holds
_FOLD: Final = """
WITH moved AS (
    DELETE FROM log_volume_delta RETURNING minute, organization_id, source, level, n
), summed AS (
    SELECT minute, organization_id, source, level, sum(n)::bigint AS n
    FROM moved GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
)
INSERT INTO log_volume AS v (minute, organization_id, source, level, n)
SELECT minute, organization_id, source, level, n FROM summed
ON CONFLICT (minute, organization_id, source, level) DO UPDATE SET n = v.n + EXCLUDED.n
"""


async def fold(pool: aiopg.Pool) -> int | None:
    """Fold the deltas into the counters; the number of counters written, ``None`` when another worker folds."""
    async with edge.transaction(pool) as cur:
        await cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (FOLD_LOCK,))
        if not (await cur.fetchone())[0]:
            return None
        await cur.execute(_FOLD)
        written: int = cur.rowcount
    return written
