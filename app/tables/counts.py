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

A table that lost its changelog (the dev broker keeps topics in memory, so
one that comes back empty holds none) is rebuilt from the rows: the owner,
once its table is recovered without the record of a rebuild
(:data:`~app.domain.counting.BASE`), asks for one on ``logs.counts``, and
the count agent, reading that request in turn, counts the rows in one
PostgreSQL snapshot and replaces the table with the result. Every delta
read before the request was committed before the snapshot and is in it;
of those read after, the ones whose transaction the snapshot saw are left
out (:meth:`LiveCounts.already_counted`). A fresh install rebuilds from no
rows, at no cost. A worker that sees the broker come back empty while it
runs (its table store kept, the changelog gone) asks for a rebuild after
that moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import faust
import orjson
from faust.types import TableT

from app.domain.counting import BASE, Snapshot, by_scope, scope_of, scope_snapshot, split_scope
from app.domain.topic_layout import COUNTS
from app.kafka.produce import Send, produce_all
from app.storage.recount import Recount

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)

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

    def __init__(self, table: TableT[str, Any], top_sources: int, send: Send, max_delay: float) -> None:
        self.table = table
        self._send, self._max_delay = send, max_delay  # where a request for a rebuild goes, and its retry bound
        self.mirror = CountMirror(cast(Mapping[str, Any], table))
        self._top_sources = top_sources
        self._snapshot: tuple[str, Snapshot] | None = None
        self._asking: set[asyncio.Task[None]] = set()

    def ask_for_rebuild(self, *, since: datetime | None = None) -> None:
        """Put a request for a rebuild on ``logs.counts`` (in the background: recovery must not wait for it).

        Without ``since``, it asks for the rebuild a table without one needs;
        with it, for one after ``since`` (the changelog was lost then).
        """
        request = {"rebuild": "the changelog was lost" if since else "the table holds no record of a rebuild"}
        if since is not None:
            request["since"] = since.isoformat()
        else:
            log.info("the count table holds no record of a rebuild (a new broker, or a first start): asking for one")
        record = (COUNTS, None, orjson.dumps(request), 0, None)
        asking = asyncio.ensure_future(produce_all(self._send, [record], max_delay=self._max_delay))
        self._asking.add(asking)  # held until done: the loop keeps only a weak reference to a task
        asking.add_done_callback(self._asking.discard)

    def wants(self, request: Mapping[str, Any]) -> bool:
        """Whether a rebuild ``request`` is still to be carried out: none since what it asks for."""
        base = self.table.get(BASE)
        if not isinstance(base, dict):
            return True
        since = request.get("since")
        return isinstance(since, str) and datetime.fromisoformat(str(base["at"])) < datetime.fromisoformat(since)

    def write(self, key: str, value: Mapping[str, Any]) -> None:
        """Set one counter (inside the count agent's stream iteration: Faust writes tables only there)."""
        self.table[key] = value
        self.mirror.put(key, value)

    @property
    def rebuilt(self) -> bool:
        """Whether the table holds the record of a rebuild from the rows (it lost no changelog since)."""
        return BASE in self.table

    def already_counted(self, delta: Mapping[str, Any]) -> bool:
        """Whether ``delta``'s rows were counted by the last rebuild (its transaction was in the snapshot)."""
        base, xid = self.table.get(BASE), delta.get("x")
        if not isinstance(base, dict) or not isinstance(xid, int):
            return False
        text = str(base.get("snapshot", ""))
        if self._snapshot is None or self._snapshot[0] != text:
            self._snapshot = (text, Snapshot.parse(text))
        return self._snapshot[1].saw(xid)

    def replace(self, recount: Recount, now: datetime | None = None) -> None:
        """Make the table ``recount``'s counters, and nothing else (inside the count agent's iteration)."""
        for key in [k for k in self.table.keys() if k not in recount.counters]:
            del self.table[key]
        for key, value in recount.counters.items():
            self.table[key] = value
        at = (now or datetime.now(UTC)).isoformat()
        self.table[BASE] = {"snapshot": recount.snapshot_text, "rows": recount.rows, "at": at}
        self.mirror.clear()

    def current_stats(self, now: datetime | None = None, tenant: str | None = None) -> dict[str, Any]:
        """The stats answer (all events, or ``tenant``'s) from the count table; call it on the table's owner."""
        return scope_snapshot(self.mirror.scope(tenant), now or datetime.now(UTC), self._top_sources, tenant)


def owns_count_table(app: LogpipeApp) -> bool:
    """Whether this worker holds the count table's one partition (and ``logs.counts``', which its agent reads)."""
    return any(tp.topic == COUNTS and tp.partition == 0 for tp in app.assignor.assigned_actives())


def register(app: LogpipeApp) -> None:
    """Declare the count table on ``app``; its mirror is dropped whenever the table may change behind it."""
    table = app.Table(
        TABLE,
        default=None,
        partitions=1,
        schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
        help="Live counters: total, level:*, source:*, org:*, minute:00..59, and each per organization.",
    )
    send: Send = lambda *record: app.producer.send(*record)  # noqa: E731 - the producer exists once started
    counts = LiveCounts(table, app.settings.stats_top_sources, send, app.settings.broker_retry_max_delay)

    async def recovered() -> None:
        counts.mirror.clear()
        if owns_count_table(app) and not counts.rebuilt:
            counts.ask_for_rebuild()

    async def revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        counts.mirror.clear()

    table.on_recover(recovered)
    app.on_partitions_revoked.connect(cast(Any, revoked))
    app.services.live_counts = counts
