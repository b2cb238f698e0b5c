"""Live counts per level, source, organization and minute, in a one-partition table.

How the counts stay exact (equal to ``SELECT ... GROUP BY`` in PostgreSQL,
also after a worker is SIGKILLed mid-batch):

* They are never counted from what was *read*, only from what PostgreSQL
  *really inserted* (``INSERT ... ON CONFLICT DO NOTHING RETURNING``), and
  that delta is written in the same transaction as the rows (the
  ``count_deltas`` outbox). A batch replayed after a crash inserts nothing
  new and so counts nothing new.
* Each delta is tagged with its ``logs.events`` partition and last offset;
  :func:`app.domain.counting.fold` keeps per counter the highest offset folded in
  from each partition, so a delta delivered twice is folded in once.
  The persist agent relays a partition's recorded deltas oldest first,
  before newer ones, so no older delta arrives behind a newer one.
* The table is updated only inside ``async for`` over ``logs.counts`` (Faust
  refuses table writes outside stream iteration) and ``logs.counts`` has one
  partition, so every counter is always updated from the same partition
  (co-partitioned) by one agent.

Why one partition and table routing: ``/api/v1/stats`` needs *every*
counter, exactly, from whichever worker is asked. ``logs.counts`` and the
table have one partition (one small delta per persisted batch is far below
what a partition carries), so one worker — the owner of partition 0 — holds
every counter and is its only writer; every stats route is decorated with
``@app.table_route(exact_key=...)``, which answers locally on the owner and
forwards the request to the owner from any other worker. A ``GlobalTable``
was tried and rejected: on the worker that writes it, Faust also applies the
table's own changelog as a standby, and a fold that read a counter between
those two updates lost counts (measured: 87,305 of 100,000 under load).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import faust
from faust.types import TableT

from app.domain.counting import by_scope, scope_of, scope_snapshot, split_scope

if TYPE_CHECKING:
    from app.app import LogpipeApp

ROUTING_KEY = "total"  # any key will do: with one partition every key lives with the same worker
TABLE = "counts"


class CountMirror:
    """The owner's counters in memory, grouped by tenant.

    A stats answer needs the ~300 counters of one scope; reading them from
    the table means decoding every counter of every organization from
    RocksDB (thousands: 4 to 7 ms a request). The count agent writes each
    counter here as it writes the table, and the copy is dropped whenever
    the table may change behind it (partitions revoked, changelog
    recovered), to be read back whole on the next request.
    """

    def __init__(self, table: Mapping[str, Any]) -> None:
        self._table = table
        self._scopes: dict[str, dict[str, Mapping[str, Any]]] | None = None

    def clear(self) -> None:
        self._scopes = None

    def put(self, counter: str, value: Mapping[str, Any]) -> None:
        if self._scopes is not None:
            prefix, base = split_scope(counter)
            self._scopes.setdefault(prefix, {})[base] = value

    def scope(self, tenant: str | None) -> Mapping[str, Mapping[str, Any]]:
        if self._scopes is None:
            self._scopes = by_scope(self._table.items())
        return self._scopes.get(scope_of(tenant), {})


class LiveCounts:
    """The count table, its in-memory mirror, and the stats answer read from them."""

    def __init__(self, table: TableT[str, Any], top_sources: int) -> None:
        self.table = table
        self.mirror = CountMirror(cast(Mapping[str, Any], table))
        self._top_sources = top_sources

    def write(self, key: str, value: Mapping[str, Any]) -> None:
        """Set one counter (inside the count agent's stream iteration: Faust writes tables only there)."""
        self.table[key] = value
        self.mirror.put(key, value)

    def current_stats(self, now: datetime | None = None, tenant: str | None = None) -> dict[str, Any]:
        """The stats answer (all events, or ``tenant``'s) from the count table; call it on the table's owner."""
        return scope_snapshot(self.mirror.scope(tenant), now or datetime.now(UTC), self._top_sources, tenant)


def register(app: LogpipeApp) -> None:
    """Declare the count table on ``app``; its mirror is dropped whenever the table may change behind it."""
    table = app.Table(
        TABLE,
        default=None,
        partitions=1,
        schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
        help="Live counters: total, level:*, source:*, org:*, minute:00..59, and each per organization.",
    )
    counts = LiveCounts(table, app.settings.stats_top_sources)

    async def recovered() -> None:
        counts.mirror.clear()

    async def revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        counts.mirror.clear()

    table.on_recover(recovered)
    app.on_partitions_revoked.connect(cast(Any, revoked))
    app.services.live_counts = counts
