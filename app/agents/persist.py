"""Persist agent: envelopes on ``logs.events`` → rows in PostgreSQL.

``stream.take_events()`` gathers envelopes; each partition's share of the
batch is written in one transaction (rows + count delta). Up to
``PERSIST_IN_FLIGHT`` batches (default 1) are written at once (:class:`Pipeline`), and
an envelope is acknowledged only once its batch committed, so an offset is
never committed ahead of its rows. While PostgreSQL is away the agent
retries the same batch with capped backoff: the partition waits, nothing is
skipped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import aiopg
import orjson
from aiokafka.errors import KafkaError
from faust import Stream
from faust.exceptions import ProducerSendError
from faust.types import EventT, StreamT

from app import tracing
from app.agents.batches import PartitionBatch, group_by_partition, rejected_letters, traceparents_of
from app.agents.pipeline import Pipeline
from app.app import app, database, settings
from app.deadletters import DeadLetter
from app.errors import StorageUnavailable
from app.metrics import (
    CONSUMER_LAG,
    EVENT_LATENCY,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    EVENTS_PERSISTED,
    PERSIST_BATCH_EVENTS,
    PERSIST_BATCH_SECONDS,
    POSTGRES_RETRIES,
)
from app.storage import postgres
from app.topics import COUNTS, DLQ, EVENTS

log = logging.getLogger(__name__)

events_topic = app.topic(EVENTS, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")


async def retry_storage(operation: Any) -> Any:
    def on_retry(exc: StorageUnavailable, delay: float) -> None:
        POSTGRES_RETRIES.inc()
        log.warning("%s; retrying the batch in %.1fs", exc, delay)

    return await postgres.retrying(
        operation, max_delay=settings.pg_retry_max_delay, on_retry=on_retry, sleep=asyncio.sleep
    )


Record = tuple[str, bytes | None, bytes, int | None, list[tuple[str, bytes]] | None]


async def produce_all(records: list[Record]) -> None:
    """Produce and wait for every acknowledgement; while the broker is away, retry (the partition waits).

    A retry may write a record twice: dead letters are at-least-once, and a
    count delta delivered twice is folded in once.
    """
    delay = 0.1
    while True:
        try:
            futures = [
                await app.producer.send(topic, key, value, part, None, hdrs)
                for topic, key, value, part, hdrs in records
            ]
            await asyncio.gather(*futures)
            return
        except (KafkaError, ProducerSendError) as exc:
            log.warning("producing %d records failed (%s); retrying in %.1fs", len(records), exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.pg_retry_max_delay)


async def _dead_letter(letters: list[DeadLetter]) -> None:
    await produce_all([(DLQ, d.key, d.value, None, d.headers()) for d in letters])
    for letter in letters:
        EVENTS_DEAD_LETTERED.labels(letter.error.value).inc()


# logs.events partition -> the last count delta of it this worker put on logs.counts. The next
# batch's transaction forgets up to there; after a restart nothing is known, the pending deltas
# are relayed again, and fold() counts each once. A rebalance keeps it: forgetting up to an older
# relayed offset deletes only deltas that were relayed.
relayed: dict[int, int] = {}

# logs.events partitions whose outbox was cleared of deltas left by an earlier incarnation of the
# topic, by the first batch that recorded a delta (see postgres._DISCARD_STALE_DELTAS). Later
# batches have higher offsets, so they skip that round trip until the next rebalance.
stale_checked: set[int] = set()


async def _partitions_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
    stale_checked.clear()


app.on_partitions_revoked.connect(cast(Any, _partitions_revoked))


async def relay_deltas(partition: int, pending: postgres.Pending) -> None:
    """Put the recorded count deltas of ``partition`` on ``logs.counts``, oldest first."""
    if not pending:
        return
    await produce_all(
        [(COUNTS, None, orjson.dumps({"p": partition, "o": offset, "c": delta}), 0, None) for offset, delta in pending]
    )
    relayed[partition] = pending[-1][0]


async def persist_group(
    pool: aiopg.Pool, group: PartitionBatch, earlier: asyncio.Task[Any] | None, on_written: Callable[[], None]
) -> int:
    """Write one partition's batch after ``earlier`` (its previous batch); returns the number of rows inserted.

    ``on_written`` is called once its transaction committed, before its dead
    letters and count delta are produced.
    """
    with tracing.persist_spans(group.traceparents):
        return await _persist_group(pool, group, earlier, on_written)


async def _persist_group(
    pool: aiopg.Pool, group: PartitionBatch, earlier: asyncio.Task[Any] | None, on_written: Callable[[], None]
) -> int:
    async def wait_turn() -> int | None:
        if earlier is not None:
            await asyncio.wait({earlier})  # not `await earlier`: cancelling this must not cancel it
            earlier.result()  # an earlier batch that failed fails this one: its deltas must come first
        return relayed.get(group.partition)

    inserted = 0
    if group.events:
        started = time.perf_counter()
        result = await retry_storage(
            lambda: postgres.persist_batch(
                pool,
                group.events,
                partition=group.partition,
                end_offset=group.end_offset,
                wait_turn=wait_turn,
                discard_stale=group.partition not in stale_checked,
            )
        )
        if result.delta:
            stale_checked.add(group.partition)
        PERSIST_BATCH_SECONDS.observe(time.perf_counter() - started)
        PERSIST_BATCH_EVENTS.observe(len(group.events))
        inserted = result.inserted
        EVENTS_PERSISTED.inc(inserted)
        EVENTS_DUPLICATE.inc(len(group.events) - inserted - len(result.rejected))
        observe_latency(group.events)
        group.dead.extend(rejected_letters(group, result.rejected))
        pending = result.pending
    else:
        done = await wait_turn()
        pending = await retry_storage(lambda: postgres.pending_deltas(pool, group.partition, done))
    on_written()
    if group.dead:
        log.warning("dead-lettering %d records of %s[%d]", len(group.dead), EVENTS, group.partition)
        await _dead_letter(group.dead)
    await relay_deltas(group.partition, pending)
    return inserted


LATENCY_SAMPLES = 64


def observe_latency(events: Sequence[dict[str, Any]], now: datetime | None = None) -> None:
    """Event timestamp → persisted, for up to ``LATENCY_SAMPLES`` events spread over the batch."""
    now = now or datetime.now(UTC)
    step = max(len(events) // LATENCY_SAMPLES, 1)
    for event in events[::step]:
        try:
            EVENT_LATENCY.observe(max((now - datetime.fromisoformat(event["timestamp"])).total_seconds(), 0.0))
        except (KeyError, TypeError, ValueError):
            continue


@app.timer(interval=5.0)  # type: ignore[untyped-decorator]  # Faust's timer decorator is untyped
async def record_lag() -> None:
    """Lag of this worker's ``logs.events`` partitions: highwater minus committed offset."""
    consumer = cast(Any, app.consumer)
    for tp in app.assignor.assigned_actives():
        if tp.topic != EVENTS:
            continue
        highwater = consumer.highwater(tp)
        committed = consumer._committed_offset.get(tp)  # Faust keeps it; no public accessor
        if highwater is not None:
            lag = highwater - (committed or 0)
            CONSUMER_LAG.labels("persist", tp.topic, str(tp.partition)).set(max(lag, 0))


@app.agent(events_topic, name="persist")
async def persist(stream: StreamT[bytes]) -> None:
    """Write envelopes to PostgreSQL in batches, each acknowledged once it is stored."""
    pool = await database.wait_ready()
    pipeline = Pipeline(
        functools.partial(persist_group, pool), in_flight=settings.persist_in_flight, pool_size=settings.pg_pool_size
    )
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
            await pipeline.submit(batch, groups)
    finally:
        await pipeline.close()
