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
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import aiopg
import orjson
from aiokafka.errors import KafkaError
from faust import Stream
from faust.exceptions import ProducerSendError
from faust.types import EventT, StreamT

from app import tracing
from app.app import app, database, settings
from app.deadletters import DeadLetter, Reason
from app.envelopes import unpack
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


@dataclass(slots=True)
class PartitionBatch:
    """One partition's share of a taken batch."""

    partition: int
    end_offset: int = -1
    events: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    traceparents: list[str] = field(default_factory=list)


def traceparents_of(headers: Any) -> list[str]:
    """The ``traceparent`` headers of a record (Faust gives a list of pairs or a mapping)."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    return [value.decode() if isinstance(value, bytes) else str(value) for key, value in pairs if key == "traceparent"]


def group_by_partition(items: Sequence[tuple[int, int, bytes | None]]) -> list[PartitionBatch]:
    """Split ``(partition, offset, envelope)`` items into per-partition batches.

    An envelope that is not one (written to the topic by something else) is
    dead-lettered instead of failing the batch. An id already taken by another
    partition's share of this batch is left out: the shares are written
    concurrently, so neither transaction would see the other's copy, and a
    resent event without a timestamp (stamped at each receipt) would be stored
    twice. Within one share ``DISTINCT ON`` keeps one; across batches the
    earlier batch has committed and the id lookup finds it.
    """
    groups: dict[int, PartitionBatch] = {}
    owner: dict[Any, int] = {}  # event id -> the partition whose share keeps it
    for partition, offset, value in items:
        group = groups.setdefault(partition, PartitionBatch(partition))
        group.end_offset = max(group.end_offset, offset)
        try:
            events = unpack(value or b"")
        except ValueError as exc:
            group.dead.append(DeadLetter(value or b"", None, Reason.NOT_JSON, str(exc), EVENTS, partition, offset))
            continue
        for event in events:
            event_id = event.get("id")
            if event_id is None or owner.setdefault(event_id, partition) == partition:
                group.events.append(event)
                group.offsets.append(offset)
    return list(groups.values())


def rejected_letters(group: PartitionBatch, rejected: list[tuple[dict[str, Any], str]]) -> list[DeadLetter]:
    """Dead letters for the rows PostgreSQL refused, each with its envelope's offset."""
    index = {id(event): i for i, event in enumerate(group.events)}
    return [
        DeadLetter(
            orjson.dumps(event),
            None,
            Reason.REJECTED_BY_DATABASE,
            reason,
            EVENTS,
            group.partition,
            group.offsets[index[id(event)]] if id(event) in index else group.end_offset,
        )
        for event, reason in rejected
    ]


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
    pool: aiopg.Pool,
    group: PartitionBatch,
    earlier: asyncio.Task[Any] | None = None,
    on_written: Callable[[], None] = lambda: None,
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


@dataclass(slots=True)
class _Taken:
    """A taken batch: *written* once its transactions committed, *stored* once its deltas are relayed and its
    events acknowledged."""

    written: asyncio.Future[Any]
    stored: asyncio.Task[None]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Pipeline:
    """Taken batches written, up to ``in_flight`` at once, each acknowledged once it is stored.

    With one, a batch is written before the next is taken, and the next
    is taken while the one before relays its count deltas (a broker round
    trip). With more, a batch's rows go in while the one before it
    commits, so an event waits less for the batch in progress, at the cost
    of holding more batches in memory. Each partition's shares still
    record, commit and relay their count deltas in offset order (``fold``
    drops a delta at or below the partition's high-water mark), and a
    share holding an event id that an earlier share is still storing
    starts only after it (a resend stamped twice would otherwise be stored
    twice, and two transactions waiting on each other's row would wait
    forever).

    A share that waits for its turn holds a connection; at most
    ``pool_size - 1`` do, so an earlier share always finds one.
    """

    def __init__(self, pool: aiopg.Pool, *, in_flight: int, pool_size: int) -> None:
        self._pool = pool
        self._in_flight = in_flight if pool_size > 1 else 1
        self._waiting_turn = asyncio.Semaphore(max(pool_size - 1, 1))
        self._batches: deque[_Taken] = deque()
        self._latest: dict[int, asyncio.Task[int]] = {}  # partition -> its latest share
        self._writers: dict[Any, asyncio.Task[int]] = {}  # event id -> the share storing it

    async def submit(self, events: Sequence[EventT[bytes]], groups: list[PartitionBatch]) -> None:
        """Start writing ``groups``, then wait until fewer than ``in_flight`` batches are being written (raising
        an error of one).

        Waiting after starting, not before, bounds what is held: when the
        next batch is taken, at most ``in_flight`` are, none but the last
        still being written.
        """
        for event in events:
            event.message.incref()  # take_events' own ack only drops this reference: ours follows the commit
        shares = [self._start(g) for g in groups]
        written = asyncio.gather(*(w for _, w in shares))
        self._batches.append(_Taken(written, asyncio.create_task(self._store(events, [s for s, _ in shares]))))
        while self._batches:
            if self._batches[0].stored.done() or len(self._batches) > self._in_flight:
                await self._batches.popleft().stored
            elif unwritten := [b.written for b in self._batches if not b.written.done()]:
                if len(unwritten) < self._in_flight:
                    return
                await asyncio.wait(unwritten, return_when=asyncio.FIRST_COMPLETED)
            else:
                return

    async def drain(self) -> None:
        """Wait until every batch in flight is stored (raising the first error)."""
        while self._batches:
            await self._batches.popleft().stored

    async def close(self) -> None:
        """Stop what is in flight: unacknowledged, it is read again (and skipped where stored)."""
        for batch in self._batches:
            batch.stored.cancel()
        await asyncio.gather(*(b.stored for b in self._batches), return_exceptions=True)
        self._batches.clear()

    def _start(self, group: PartitionBatch) -> tuple[asyncio.Task[int], asyncio.Future[None]]:
        earlier = self._latest.get(group.partition)
        # With one batch at a time the one before has committed when this one starts: no id to track.
        ids = [e["id"] for e in group.events if e.get("id") is not None] if self._in_flight > 1 else []
        writing = {self._writers[i] for i in ids if i in self._writers}
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        share = asyncio.create_task(self._share(group, earlier, writing, lambda: _resolve(written)))
        self._latest[group.partition] = share
        self._writers.update(dict.fromkeys(ids, share))
        share.add_done_callback(lambda done: self._forget(done, group.partition, ids))
        share.add_done_callback(lambda _: _resolve(written))  # a share that failed: its error is the batch's
        return share, written

    async def _share(
        self,
        group: PartitionBatch,
        earlier: asyncio.Task[int] | None,
        writing: set[Any],
        on_written: Callable[[], None],
    ) -> int:
        if writing:
            await asyncio.wait(writing)
        if earlier is None or earlier.done():
            return await persist_group(self._pool, group, on_written=on_written)
        async with self._waiting_turn:
            return await persist_group(self._pool, group, earlier, on_written)

    def _forget(self, share: asyncio.Task[int], partition: int, ids: list[Any]) -> None:
        if self._latest.get(partition) is share:
            del self._latest[partition]
        for i in ids:
            if self._writers.get(i) is share:
                del self._writers[i]

    async def _store(self, events: Sequence[EventT[bytes]], shares: list[asyncio.Task[int]]) -> None:
        await asyncio.gather(*shares)
        for event in events:
            if event.ack():  # the last reference: the offset may be committed
                app.sensors.on_message_out(event.message.tp, event.message.offset, event.message)


@app.agent(events_topic, name="persist")
async def persist(stream: StreamT[bytes]) -> None:
    """Write envelopes to PostgreSQL in batches, each acknowledged once it is stored."""
    pool = await database.wait_ready()
    pipeline = Pipeline(pool, in_flight=settings.persist_in_flight, pool_size=settings.pg_pool_size)
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
