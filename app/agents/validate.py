"""Validate stage: ``logs.raw`` → envelopes on ``logs.events`` or ``logs.dlq``.

``logs.raw`` holds one event per record, as external producers write it, so
this stage runs as a batch consumer service inside the Faust app rather
than as a Faust agent: Faust's per-record machinery costs 100-150 µs a
record here, while ``getmany()`` fetches thousands of records for the price
of one call. Its consumer group is ``<APP_ID>-validate``; offsets are
committed only after everything produced from them is acknowledged by the
broker, and output is deterministic (an absent id is derived from the
record's position), so a batch processed twice after a crash yields the
same events, which the id turns into one row each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from mode import Service

from app.app import app, settings
from app.deadletters import DeadLetter
from app.envelopes import pack
from app.fetch import fetch_max_wait_ms
from app.metrics import CONSUMER_LAG, EVENTS_DEAD_LETTERED, EVENTS_VALIDATED
from app.topics import DLQ, EVENTS, RAW, raw_topic_max_bytes
from app.validation import RawRecord, validate_record

log = logging.getLogger(__name__)
Batch = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


def split_batch(batch: Batch, max_bytes: int) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    """The valid events and the dead letters of one fetched batch."""
    good: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for tp, records in batch.items():
        for r in records:
            out = validate_record(RawRecord(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value), max_bytes)
            if isinstance(out, DeadLetter):
                dead.append(out)
            else:
                good.append(out)
    return good, dead


class _FinishBatchOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets a rebalance wait until the batch in hand is produced and committed."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked: object) -> None:
        async with self._lock:
            pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


@app.service
class RawValidator(Service):
    """The ``logs.raw`` consumer: validate, dead-letter, envelope, commit."""

    #: The running instance of this worker (Faust instantiates app services itself).
    current: ClassVar[RawValidator | None] = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        RawValidator.current = self
        self._lock = asyncio.Lock()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.broker_bootstrap,
            group_id=f"{settings.app_id}-validate",
            client_id=f"{settings.app_id}-validate",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=2 * raw_topic_max_bytes(settings.raw_max_bytes),
            session_timeout_ms=int(settings.broker_session_timeout * 1000),
            heartbeat_interval_ms=int(min(3.0, settings.broker_session_timeout / 3) * 1000),
            fetch_max_wait_ms=fetch_max_wait_ms(settings.broker_fetch_max_wait),
        )

    async def on_start(self) -> None:
        self._consumer.subscribe([RAW], listener=_FinishBatchOnRevoke(self._lock))
        await self._consumer.start()

    async def on_stop(self) -> None:
        await self._consumer.stop()

    def assigned_partitions(self) -> list[int]:
        return sorted(tp.partition for tp in self._consumer.assignment())

    @Service.task
    async def _consume(self) -> None:
        delay = 0.1
        while not self.should_stop:
            batch = await self._consumer.getmany(timeout_ms=500, max_records=settings.validate_max_records)
            if not batch:
                continue
            async with self._lock:
                try:
                    await self._forward(batch)
                    delay = 0.1
                except KafkaError as exc:
                    log.warning("producing validated batch failed (%s); retrying in %.1fs", exc, delay)
                    for tp, records in batch.items():
                        self._consumer.seek(tp, records[0].offset)
                    await self.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self._record_lag(batch)
                try:
                    await self._consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
                except CommitFailedError as exc:
                    # Partitions moved to another worker, which will redo this batch;
                    # the derived ids make the redo harmless.
                    log.info("commit after rebalance refused: %s", exc)

    def _record_lag(self, batch: Batch) -> None:
        for tp, records in batch.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                lag = max(highwater - records[-1].offset - 1, 0)
                CONSUMER_LAG.labels("validate", tp.topic, str(tp.partition)).set(lag)

    async def _forward(self, batch: Batch) -> None:
        good, dead = split_batch(batch, settings.raw_max_bytes)
        producer = app.producer
        pending: list[Awaitable[Any]] = []
        for envelope in pack(good, settings.envelope_max_bytes):
            pending.append(await producer.send(EVENTS, None, envelope, None, None, None))
        for letter in dead:
            pending.append(await producer.send(DLQ, letter.key, letter.value, None, None, letter.headers()))
        await asyncio.gather(*pending)
        EVENTS_VALIDATED.inc(len(good))
        for letter in dead:
            EVENTS_DEAD_LETTERED.labels(letter.error.value).inc()
