"""Live tail: new events fanned out to the SSE clients of this worker.

Every worker can serve a tail of *all* events, whichever worker ingested
them: while at least one client listens, the hub reads every partition of
``logs.events`` from its end with its own consumer (no group, so it takes
nothing from the pipeline's consumers). The hub never waits for a client:
each has a bounded queue, and a client too slow to keep up is dropped with
a final ``dropped`` event instead of slowing anything down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from app.domain.envelopes import unpack
from app.domain.field_filters import FieldFilter, metadata_matches
from app.ops.metrics import TAIL_CLIENTS, TAIL_DROPPED

log = logging.getLogger(__name__)
Matcher = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)  # identity: each connection is its own subscriber
class Subscriber:
    matches: Matcher
    queue: asyncio.Queue[dict[str, Any] | None]
    dropped: bool = False


def matcher(
    levels: tuple[str, ...],
    source: str | None,
    organization_id: str | None,
    text: str | None,
    fields: Sequence[FieldFilter] = (),
) -> Matcher:
    """The query API's filters, applied to one event (``text``: every word appears in the message; ``fields``:
    as ``field.KEY=`` on a query)."""
    words = [w.lower() for w in text.split()] if text else []

    def matches(event: dict[str, Any]) -> bool:
        if levels and event.get("level") not in levels:
            return False
        if source is not None and event.get("source") != source:
            return False
        if organization_id is not None and event.get("organization_id") != organization_id:
            return False
        if fields and not metadata_matches(fields, event.get("metadata")):
            return False
        if words:
            message = str(event.get("message", "")).lower()
            return all(w in message for w in words)
        return True

    return matches


@dataclass
class TailHub:
    """Reads ``logs.events`` while anyone listens and hands events to subscribers."""

    bootstrap: str
    topic: str
    queue_size: int
    fetch_wait_ms: int = 500
    subscribers: set[Subscriber] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    @contextlib.asynccontextmanager
    async def subscribe(self, matches: Matcher) -> AsyncIterator[Subscriber]:
        subscriber = Subscriber(matches, asyncio.Queue(self.queue_size))
        self.subscribers.add(subscriber)
        TAIL_CLIENTS.inc()
        if self._task is None or self._task.done():
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), 10)
        try:
            yield subscriber
        finally:
            self.subscribers.discard(subscriber)
            TAIL_CLIENTS.dec()

    def close(self) -> None:
        """End every live tail now: each handler is handed the end (``None``) ahead of what it had not sent.

        A stopping worker would otherwise wait for its tail clients, whose
        streams never end by themselves, before it lets go of its port. They
        reconnect to another worker, as an EventSource does by itself.
        """
        for subscriber in list(self.subscribers):
            while not subscriber.queue.empty():
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(None)
        self.subscribers.clear()

    def publish(self, events: list[dict[str, Any]]) -> None:
        for subscriber in list(self.subscribers):
            if subscriber.dropped:
                continue
            for event in events:
                if not subscriber.matches(event):
                    continue
                try:
                    subscriber.queue.put_nowait(event)
                except asyncio.QueueFull:
                    TAIL_DROPPED.inc()
                    subscriber.dropped = True
                    self.subscribers.discard(subscriber)
                    break

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=self.fetch_wait_ms,
        )
        await consumer.start()
        try:
            await consumer.topics()  # metadata, so the partitions are known
            partitions = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or ()]
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)
            # positions are fixed now, before the subscriber is told it is listening
            await asyncio.gather(*(consumer.position(tp) for tp in partitions))
            self._ready.set()
            while self.subscribers:
                for records in (await consumer.getmany(timeout_ms=500, max_records=2000)).values():
                    for record in records:
                        try:
                            self.publish(unpack(record.value or b""))
                        except ValueError:
                            continue
        except Exception:
            log.exception("live tail reader failed")
        finally:
            self._ready.set()
            await consumer.stop()
            for subscriber in list(self.subscribers):
                subscriber.dropped = True
