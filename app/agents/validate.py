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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError
from mode import Service

from app.domain.admission import EventRules
from app.domain.deadletters import DeadLetter
from app.domain.envelopes import pack
from app.domain.records import RawRecord, validate_record
from app.domain.topic_layout import DLQ, EVENTS, RAW, raw_topic_max_bytes
from app.kafka.fetch import fetch_max_wait_ms
from app.kafka.produce import Record, Send, produce_all
from app.ops.metrics import CONSUMER_LAG, EVENTS_DEAD_LETTERED, EVENTS_VALIDATED
from app.settings import Settings, event_rules

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)
Batch = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


def split_batch(batch: Batch, max_bytes: int, rules: EventRules) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    """The valid events and the dead letters of one fetched batch."""
    good: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for tp, records in batch.items():
        for r in records:
            out = validate_record(
                RawRecord(tp.topic, tp.partition, r.offset, r.timestamp, r.key, r.value), max_bytes, rules
            )
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


class RawValidator(Service):
    """The ``logs.raw`` consumer: validate, dead-letter, envelope, commit."""

    def __init__(self, settings: Settings, send: Send, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._rules = event_rules(settings)
        self._send = send
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("the validator has not started")
        return self._consumer

    async def on_start(self) -> None:
        # Made here, not in __init__: aiokafka's clients belong to the running event loop.
        settings = self._settings
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
        await self._consumer.start()
        # Subscribed once started, the consumer joins its group in the background: started subscribed, it
        # waits for its first assignment, which a broker holds back for its initial rebalance delay
        # (3 s on tansu and by Kafka's default), and the worker's start waited with it.
        self._consumer.subscribe([RAW], listener=_FinishBatchOnRevoke(self._lock))

    async def on_stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    def assigned_partitions(self) -> list[int]:
        return sorted(tp.partition for tp in self._consumer.assignment()) if self._consumer is not None else []

    @Service.task
    async def _consume(self) -> None:
        while not self.should_stop:
            batch = await self.consumer.getmany(timeout_ms=500, max_records=self._settings.validate_max_records)
            if not batch:
                continue
            async with self._lock:
                await self._forward(batch)  # while the broker refuses the output, the batch is produced again
                self._record_lag(batch)
                try:
                    await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
                except CommitFailedError as exc:
                    # Partitions moved to another worker, which will redo this batch;
                    # the derived ids make the redo harmless.
                    log.info("commit after rebalance refused: %s", exc)

    def _record_lag(self, batch: Batch) -> None:
        for tp, records in batch.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                lag = max(highwater - records[-1].offset - 1, 0)
                CONSUMER_LAG.labels("validate", tp.topic, str(tp.partition)).set(lag)

    async def _forward(self, batch: Batch) -> None:
        good, dead = split_batch(batch, self._settings.raw_max_bytes, self._rules)
        records: list[Record] = [
            (EVENTS, None, envelope, None, None) for envelope in pack(good, self._settings.envelope_max_bytes)
        ]
        records += [(DLQ, letter.key, letter.value, None, letter.headers()) for letter in dead]
        await produce_all(self._send, records, max_delay=self._settings.broker_retry_max_delay)
        EVENTS_VALIDATED.inc(len(good))
        for letter in dead:
            EVENTS_DEAD_LETTERED.labels(letter.error.value).inc()


def register(app: LogpipeApp) -> None:
    """Start the ``logs.raw`` validator with ``app``."""
    validator = RawValidator(app.settings, lambda *record: app.producer.send(*record))
    app.add_dependency(validator)
    app.services.validator = validator
