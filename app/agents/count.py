"""Count agent: folds the per-batch deltas on ``logs.counts`` into the count table.

It iterates with ``async for`` (Faust allows table writes only inside
stream iteration) over one delta per persisted batch, so Faust's per-record
cost is paid per batch, not per event, and folds consecutive deltas before
writing their counters, so a counter is written once per run of deltas.
A request for a rebuild replaces the table with the rows' own counts.
See :mod:`app.tables.counts` for why the result is exact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from faust import Stream
from faust.types import ChannelT, EventT, StreamT

from app.domain.counting import CounterValue, fold, table_key
from app.domain.topic_layout import COUNTS
from app.storage import recount
from app.storage.edge import retry_storage
from app.tables.counts import LiveCounts

Recounter = Callable[[], Awaitable[recount.Recount]]

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)


# Deltas folded before their counters are written, and for at most how long (so stats stay live
# under a steady flow). Every write of a counter is a changelog record, and Faust's conductor
# holds back every topic's messages (logs.events' too) while the producer's buffer is over 100:
# after a burst, one write per counter per delta (~250 counters with 7 organizations) held the
# persist agent to an envelope per 100-200 ms for seconds.
COALESCE_MAX = 256
COALESCE_SECONDS = 0.1


class PendingCounters:
    """Counters folded from consecutive deltas, each written once."""

    def __init__(self, read: Callable[[str], CounterValue | None]) -> None:
        self._read = read
        self._values: dict[str, CounterValue] = {}

    def fold(self, delta: dict[str, Any]) -> None:
        partition, offset = int(delta["p"]), int(delta["o"])
        for counter, n in delta["c"].items():
            key = table_key(counter)
            current = self._values[key] if key in self._values else self._read(key)
            new = fold(current, counter, int(n), partition, offset)
            if new is not None:
                self._values[key] = new

    def take(self) -> dict[str, CounterValue]:
        """The folded counters to write, table key -> value; folding starts afresh."""
        values, self._values = self._values, {}
        return values


def is_delta(value: Any) -> bool:
    return isinstance(value, dict) and {"p", "o", "c"} <= value.keys()


def is_rebuild(value: Any) -> bool:
    return isinstance(value, dict) and "rebuild" in value


def register(app: LogpipeApp) -> None:
    """Declare the count agent on ``app``, folding ``logs.counts`` into the app's count table."""
    topic = app.topic(COUNTS, value_type=bytes, value_serializer="json", partitions=1)
    counts, database, max_delay = app.services.counts, app.services.database, app.settings.pg_retry_max_delay

    async def recounted() -> recount.Recount:
        pool = await database.wait_ready()
        return await retry_storage(lambda: recount.recount(pool, datetime.now(UTC)), max_delay=max_delay)

    @app.agent(topic, name="count")
    async def count_agent(stream: StreamT[Any]) -> None:
        await count(stream, counts, recounted)


async def count(stream: StreamT[Any], counts: LiveCounts, recounted: Recounter) -> None:
    """Fold deltas as they come; write and acknowledge them when none wait (or at the coalescing bounds).

    A delta is acknowledged only after its counters are written: Faust
    flushes the changelog before it commits an offset, so a delta whose
    offset is committed is in the table, and one folded again after a
    crash is ignored by ``fold``.
    """
    pending = PendingCounters(counts.table.get)
    held: list[EventT[Any]] = []
    unacked = cast(Stream[Any], stream).noack()
    channel = cast(ChannelT[Any], unacked.channel)  # an agent's stream reads a channel
    since = time.monotonic()
    async for event in unacked.events():
        if is_rebuild(event.value):
            await rebuild(counts, pending, recounted, event.value)
        elif is_delta(event.value):
            if not counts.already_counted(event.value):
                pending.fold(event.value)
        else:
            log.error("ignoring a %s record that is not a count delta: %.200r", COUNTS, event.value)
        if not held:
            since = time.monotonic()
        held.append(event)
        if channel.empty() or len(held) >= COALESCE_MAX or time.monotonic() - since >= COALESCE_SECONDS:
            for key, value in pending.take().items():  # while this event is current: Faust writes tables only then
                counts.write(key, value)
            for done in held:
                await unacked.ack(done)
            held.clear()


async def rebuild(counts: LiveCounts, pending: PendingCounters, recounted: Recounter, request: dict[str, Any]) -> None:
    """Replace the table with the rows' counts, unless it was rebuilt since what ``request`` asks for.

    What is folded and not yet written is dropped: every delta read before
    this request was committed before the rows are counted, so it is in
    the count.
    """
    if not counts.wants(request):
        return
    started = time.monotonic()
    result = await recounted()
    pending.take()
    counts.replace(result)
    log.info(
        "rebuilt the count table from %d rows in PostgreSQL in %.1fs (snapshot %s)",
        result.rows,
        time.monotonic() - started,
        result.snapshot_text,
    )
