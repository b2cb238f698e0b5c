"""Plain Kafka clients for tests: produce to, read back from, and watch the pipeline.

Tests talk to the pipeline the way producers and operators do: through
topics and consumer-group offsets, never through the app's internals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tests.support.deadlines import wait_for


async def produce(bootstrap: str, topic: str, values: Iterable[bytes], *, key: bytes | None = None) -> int:
    """Send ``values`` to ``topic`` and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for value in values]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]


async def read_all(
    bootstrap: str,
    topic: str,
    *,
    expect: int,
    timeout: float = 60,  # noqa: ASYNC109 - not asyncio.timeout: past it, one more read for records beyond expect
) -> list[Record]:
    """Read ``topic`` from the start until ``expect`` records arrived (or time runs out)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, msgs in batch.items():
                records.extend(
                    Record(tp.partition, m.offset, m.key, m.value or b"", dict(m.headers or ())) for m in msgs
                )
        # Anything beyond what was expected is a defect the caller must see.
        extra = await consumer.getmany(timeout_ms=1000)
        for tp, msgs in extra.items():
            records.extend(Record(tp.partition, m.offset, m.key, m.value or b"", dict(m.headers or ())) for m in msgs)
    finally:
        await consumer.stop()
    return records


async def partition_lags(bootstrap: str, group: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """Records of each partition of ``topics`` not yet committed by ``group`` (all, if it committed nothing),
    for the partitions with any."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or await _fetch(consumer, t))
        ]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        lags = {}
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            if ends[tp] > done:
                lags[tp] = ends[tp] - done
        return lags
    finally:
        await consumer.stop()
        await admin.close()


async def _fetch(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def wait_drained(
    bootstrap: str,
    app_id: str,
    *,
    timeout: float = 90,  # noqa: ASYNC109 - not asyncio.timeout: its expiry names the partitions still behind
) -> float:
    """Wait until every stage has committed everything: logs.raw, logs.events, logs.counts."""

    behind: list[str] = []

    async def drained() -> bool:
        lags = await partition_lags(bootstrap, f"{app_id}-validate", ["logs.raw"])
        lags |= await partition_lags(bootstrap, app_id, ["logs.events", "logs.counts"])
        behind[:] = [f"{tp.topic}[{tp.partition}] {lag}" for tp, lag in sorted(lags.items())]
        return not lags

    try:
        return await wait_for(drained, timeout=timeout, what="the pipeline to drain (consumer lag 0)")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still uncommitted: {', '.join(behind)}") from None
