"""Persist agent: envelopes on ``logs.events`` → rows in PostgreSQL.

``stream.take_events()`` gathers envelopes; each partition's share of the
batch is written in one transaction (rows + count delta) by
:class:`ShareWriter`, in the order :class:`~app.agents.persist_order.BatchWriter`
keeps, and an envelope is acknowledged only once its batch is stored, so an
offset is never committed ahead of its rows. While PostgreSQL is away the
agent retries the same batch with capped backoff: the partition waits,
nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import orjson
from faust import Stream
from faust.types import EventT, StreamT

from app.agents.persist_order import BatchWriter
from app.domain.backoff import retrying
from app.domain.batches import PartitionBatch, group_by_partition, rejected_letters, traceparents_of
from app.domain.deadletters import DeadLetter
from app.domain.topic_layout import COUNTS, DLQ, EVENTS
from app.errors import StorageUnavailable
from app.kafka.produce import Send, produce_all
from app.ops import tracing
from app.ops.metrics import (
    CONSUMER_LAG,
    EVENT_LATENCY,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    EVENTS_PERSISTED,
    PERSIST_BATCH_EVENTS,
    PERSIST_BATCH_SECONDS,
    POSTGRES_RETRIES,
)
from app.settings import Settings
from app.storage import postgres
from app.storage.database import Database

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)
LATENCY_SAMPLES = 64


async def retry_storage(operation: Callable[[], Any], max_delay: float) -> Any:
    """Run a PostgreSQL write until it goes through: the partition waits while PostgreSQL is away."""

    def on_retry(exc: StorageUnavailable, delay: float) -> None:
        POSTGRES_RETRIES.inc()
        log.warning("%s; retrying the batch in %.1fs", exc, delay)

    return await retrying(
        operation, retry_on=StorageUnavailable, max_delay=max_delay, on_retry=on_retry, sleep=asyncio.sleep
    )


class ShareWriter:
    """Writes one partition's share of a batch, then produces its dead letters and relays its count deltas.

    It remembers, per ``logs.events`` partition, the last count delta this
    worker put on ``logs.counts`` (the next transaction forgets up to there;
    after a restart nothing is known, pending deltas are relayed again and
    ``fold`` counts each once), and which partitions have had their outbox
    cleared of deltas an earlier incarnation of the topic left (see
    ``postgres._DISCARD_STALE_DELTAS``), until the next rebalance.
    """

    def __init__(self, database: Database, send: Send, settings: Settings) -> None:
        self._database = database
        self._send = send
        self._settings = settings
        self._relayed: dict[int, int] = {}
        self._stale_checked: set[int] = set()

    async def partitions_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """A rebalance: each partition's outbox is checked for stale deltas again by its next batch."""
        self._stale_checked.clear()

    async def write(
        self, group: PartitionBatch, earlier: asyncio.Task[Any] | None, on_written: Callable[[], None]
    ) -> int:
        """Write ``group`` after ``earlier`` (its partition's share before it); returns the rows inserted.

        ``on_written`` is called once its transaction committed, before its
        dead letters and count delta are produced.
        """
        with tracing.persist_spans(group.traceparents):
            inserted, pending = await self._commit(group, earlier)
            on_written()
            if group.dead:
                log.warning("dead-lettering %d records of %s[%d]", len(group.dead), EVENTS, group.partition)
                await self.dead_letter(group.dead)
            await self._relay(group.partition, pending)
            return inserted

    async def _commit(self, group: PartitionBatch, earlier: asyncio.Task[Any] | None) -> tuple[int, postgres.Pending]:
        async def wait_turn() -> int | None:
            if earlier is not None:
                await asyncio.wait({earlier})  # not `await earlier`: cancelling this must not cancel it
                earlier.result()  # an earlier share that failed fails this one: its deltas must come first
            return self._relayed.get(group.partition)

        max_delay, pool = self._settings.pg_retry_max_delay, self._database.pool
        if not group.events:
            done = await wait_turn()
            return 0, await retry_storage(lambda: postgres.pending_deltas(pool, group.partition, done), max_delay)
        started = time.perf_counter()
        result = await retry_storage(
            lambda: postgres.persist_batch(
                pool,
                group.events,
                partition=group.partition,
                end_offset=group.end_offset,
                wait_turn=wait_turn,
                discard_stale=group.partition not in self._stale_checked,
            ),
            max_delay,
        )
        if result.delta:
            self._stale_checked.add(group.partition)
        PERSIST_BATCH_SECONDS.observe(time.perf_counter() - started)
        PERSIST_BATCH_EVENTS.observe(len(group.events))
        EVENTS_PERSISTED.inc(result.inserted)
        EVENTS_DUPLICATE.inc(len(group.events) - result.inserted - len(result.rejected))
        observe_latency(group.events)
        group.dead.extend(rejected_letters(group, result.rejected))
        return result.inserted, result.pending

    async def dead_letter(self, letters: list[DeadLetter]) -> None:
        records = [(DLQ, d.key, d.value, None, d.headers()) for d in letters]
        await produce_all(self._send, records, max_delay=self._settings.broker_retry_max_delay)
        for letter in letters:
            EVENTS_DEAD_LETTERED.labels(letter.error.value).inc()

    async def _relay(self, partition: int, pending: postgres.Pending) -> None:
        """Put the recorded count deltas of ``partition`` on ``logs.counts``, oldest first."""
        if not pending:
            return
        records = [
            (COUNTS, None, orjson.dumps({"p": partition, "o": offset, "x": xid, "c": delta}), 0, None)
            for offset, delta, xid in pending
        ]
        await produce_all(self._send, records, max_delay=self._settings.broker_retry_max_delay)
        self._relayed[partition] = pending[-1].offset


def observe_latency(events: Sequence[dict[str, Any]], now: datetime | None = None) -> None:
    """Event timestamp → persisted, for up to ``LATENCY_SAMPLES`` events spread over the batch."""
    now = now or datetime.now(UTC)
    step = max(len(events) // LATENCY_SAMPLES, 1)
    for event in events[::step]:
        try:
            EVENT_LATENCY.observe(max((now - datetime.fromisoformat(event["timestamp"])).total_seconds(), 0.0))
        except (KeyError, TypeError, ValueError):
            continue


async def persist(stream: StreamT[bytes], app: LogpipeApp, writer: ShareWriter) -> None:
    """Write envelopes to PostgreSQL in batches, each acknowledged once it is stored."""
    settings = app.settings
    await app.services.database.wait_ready()
    batches = BatchWriter(writer.write, lambda e: app.sensors.on_message_out(e.message.tp, e.message.offset, e.message))
    batch: Sequence[EventT[bytes]]
    try:
        async for batch in cast(Stream[bytes], stream).take_events(
            settings.persist_batch_envelopes, within=settings.persist_linger
        ):
            groups = group_by_partition([(e.message.partition, e.message.offset, e.value) for e in batch])
            if tracing.enabled():
                by_partition = {g.partition: g for g in groups}
                for e in batch:
                    by_partition[e.message.partition].traceparents.extend(traceparents_of(e.message.headers))
            await batches.submit(batch, groups)
    finally:
        await batches.close()


def record_lag(app: LogpipeApp) -> None:
    """Lag of this worker's ``logs.events`` partitions (end minus committed offset), as the watch last saw it."""
    lags = app.services.watch.partition_lags
    for tp in app.assignor.assigned_actives():
        if tp.topic == EVENTS and tp.partition in lags:
            CONSUMER_LAG.labels("persist", tp.topic, str(tp.partition)).set(lags[tp.partition])


def register(app: LogpipeApp) -> None:
    """Declare the persist agent on ``app`` and the timer that exports its partitions' lag."""
    topic = app.topic(EVENTS, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
    writer = ShareWriter(app.services.database, lambda *record: app.producer.send(*record), app.settings)
    app.on_partitions_revoked.connect(cast(Any, writer.partitions_revoked))

    @app.agent(topic, name="persist")
    async def persist_agent(stream: StreamT[bytes]) -> None:
        await persist(stream, app, writer)

    @app.timer(interval=5.0)  # type: ignore[untyped-decorator]  # Faust's timer decorator is untyped
    async def persist_lag() -> None:
        record_lag(app)
