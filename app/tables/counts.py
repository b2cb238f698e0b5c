"""Live counts per level, source, organization and minute, in a global table.

How the counts stay exact (equal to ``SELECT ... GROUP BY`` in PostgreSQL,
also after a worker is SIGKILLed mid-batch):

* They are never counted from what was *read*, only from what PostgreSQL
  *really inserted* (``INSERT ... ON CONFLICT DO NOTHING RETURNING``), and
  that delta is written in the same transaction as the rows (the
  ``count_deltas`` outbox). A batch replayed after a crash inserts nothing
  new and so counts nothing new.
* Each delta is tagged with its ``logs.events`` partition and last offset;
  :func:`app.counting.fold` keeps per counter the highest offset folded in
  from each partition, so a delta delivered twice is folded in once.
  The persist agent relays a partition's recorded deltas oldest first,
  before newer ones, so no older delta arrives behind a newer one.
* The table is updated only inside ``async for`` over ``logs.counts`` (Faust
  refuses table writes outside stream iteration) and ``logs.counts`` has one
  partition, so every counter is always updated from the same partition
  (co-partitioned) by one agent.

Why a ``GlobalTable``: ``/api/v1/stats`` must answer exactly from any worker,
and stats need *every* counter, not the one key ``@app.table_route`` can
route by. A global table gives each worker a full replica read from the
changelog, so any worker answers locally. Faust advises one partition for a
global table used by several workers (it avoids a recovery loop), which
fits: one small delta per persisted batch is far below what one partition
carries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust

from app.app import app, settings
from app.counting import snapshot

counts = app.GlobalTable(
    "counts",
    default=None,
    partitions=1,
    schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
    recovery_buffer_size=1,
    help="Live counters: total, level:*, source:*, org:*, minute:00..59.",
)


def current_stats(now: datetime | None = None) -> dict[str, Any]:
    """The stats answer, from this worker's replica of the count table."""
    return snapshot(counts.items(), now or datetime.now(UTC), settings.stats_top_sources)
