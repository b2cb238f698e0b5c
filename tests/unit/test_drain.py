"""Records reach the streams in offset order from the last seek (see app.kafka.drain), and a partition with no
committed offset is read from its start after a rebalance (see app.kafka.offsets).

The hand-over and the seek bookkeeping run on a stand-in for the transport's
consumer: its fetches are scripted, its seeks recorded, and Faust's own
``perform_seek`` and ``_add_gap`` do the bookkeeping they do in a worker.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer
from faust.types import TP
from intervaltree import IntervalTree

from app.kafka.drain import OrderedDrain
from app.kafka.offsets import UncommittedFromStart

EVENTS_0, EVENTS_1, CHANGELOG = TP("logs.events", 0), TP("logs.events", 1), TP("app-counts-changelog", 0)


class TransportConsumer:
    """What the drain and the seek use of Faust's consumer: Faust's own bookkeeping, scripted I/O."""

    perform_seek = FaustConsumer.perform_seek
    _add_gap = FaustConsumer._add_gap
    _commit_every = None
    _n_acked = 0
    _read_offset: MutableMapping[TP, int | None]

    def __init__(self, committed: dict[TP, int | None], earliest: dict[TP, int] | None = None) -> None:
        self.committed = committed
        self.earliest = earliest or {}
        self.sought: list[tuple[TP, int]] = []
        self.delivered: list[tuple[TP, int]] = []
        self.during_callback: Callable[[], Any] | None = None
        self._read_offset = defaultdict(lambda: None)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._gap: defaultdict[TP, IntervalTree] = defaultdict(IntervalTree)
        self.suspend_flow = asyncio.Event()
        self.app = SimpleNamespace(
            conf=SimpleNamespace(consumer_auto_offset_reset="earliest"),
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        )

    def _is_changelog_tp(self, tp: TP) -> bool:
        return tp.topic.endswith("-changelog")

    def assignment(self) -> set[TP]:
        return set(self.committed)

    async def seek_to_committed(self) -> Mapping[TP, int | None]:
        for tp, offset in self.committed.items():
            if offset:  # as aiokafka: only offsets above 0 are sought
                self.sought.append((tp, offset))
        return dict(self.committed)

    async def earliest_offsets(self, *partitions: TP) -> Mapping[TP, int]:
        return {tp: self.earliest.get(tp, 0) for tp in partitions}

    async def _seek(self, partition: TP, offset: int) -> None:
        self.sought.append((partition, offset))

    async def seek(self, partition: TP, offset: int) -> None:
        await self._seek(partition, offset)
        self._read_offset[partition] = offset if offset else None

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        return None

    async def callback(self, message: Any) -> None:
        self.delivered.append((message.tp, message.offset))
        if self.during_callback is not None:
            await self.during_callback()

    async def wait_first(self, *coros: Any) -> None:
        await coros[0]
        coros[1].close()


class Consumer(OrderedDrain, UncommittedFromStart, TransportConsumer):
    pass


def message(tp: TP, offset: int) -> SimpleNamespace:
    return SimpleNamespace(tp=tp, topic=tp.topic, offset=offset)


async def fetched(*records: tuple[TP, int], before: Callable[[], Any] | None = None) -> AsyncIterator[Any]:
    """A fetch's records; ``before`` runs as the first one is handed over (a seek that overtakes the fetch)."""
    for i, (tp, offset) in enumerate(records):
        if i == 0 and before is not None:
            await before()
        yield tp, message(tp, offset)


async def test_a_partition_without_a_committed_offset_is_read_from_its_start() -> None:
    consumer = Consumer({EVENTS_0: None, EVENTS_1: 7, CHANGELOG: None}, earliest={EVENTS_0: 3})
    await consumer.perform_seek()
    assert consumer.sought == [(EVENTS_1, 7), (EVENTS_0, 3)]
    assert consumer._read_offset[EVENTS_0] == 3
    assert consumer._next == {EVENTS_0: 3, EVENTS_1: 7}


async def test_a_committed_offset_of_zero_is_sought_too() -> None:
    consumer = Consumer({EVENTS_0: 0})
    await consumer.perform_seek()
    assert consumer.sought == [(EVENTS_0, 0)]


async def test_records_of_a_fetch_a_seek_overtook_are_dropped_and_read_again() -> None:
    consumer = Consumer({EVENTS_0: 87})
    await consumer.perform_seek()
    consumer._next[EVENTS_0] = 102  # as if 87..101 had been handed over before a rebalance
    fetch_began = consumer._seeks
    await consumer.perform_seek()  # the rebalance's seek back to 87
    consumer.sought.clear()
    await consumer._hand_over(fetched((EVENTS_0, 102), (EVENTS_0, 103)), fetch_began)
    assert consumer.delivered == []
    await consumer._resend_dropped()
    assert consumer.sought == [(EVENTS_0, 87)]
    assert not consumer._gap[EVENTS_0]


async def test_the_next_record_of_an_overtaken_fetch_is_handed_over() -> None:
    consumer = Consumer({EVENTS_0: 87})
    fetch_began = consumer._seeks
    await consumer.perform_seek()
    await consumer._hand_over(fetched((EVENTS_0, 87), (EVENTS_0, 88), (EVENTS_0, 90)), fetch_began)
    assert consumer.delivered == [(EVENTS_0, 87), (EVENTS_0, 88)]
    assert consumer._resend == {EVENTS_0}
    assert not consumer._gap[EVENTS_0]


async def test_a_seek_during_the_fetch_hand_over_drops_the_rest() -> None:
    consumer = Consumer({EVENTS_0: 87})
    await consumer.perform_seek()
    await consumer._hand_over(fetched((EVENTS_0, 90), (EVENTS_0, 91), before=consumer.perform_seek), consumer._seeks)
    assert consumer.delivered == []


async def test_a_real_gap_in_a_fresh_fetch_is_passed_over_without_the_record_that_showed_it() -> None:
    consumer = Consumer({EVENTS_0: 87})
    await consumer.perform_seek()
    await consumer._hand_over(fetched((EVENTS_0, 87), (EVENTS_0, 90)), consumer._seeks)
    assert consumer.delivered == [(EVENTS_0, 87), (EVENTS_0, 90)]
    assert sorted((i.begin, i.end) for i in consumer._gap[EVENTS_0]) == [(88, 90)]
    assert consumer._read_offset[EVENTS_0] == 90


async def test_a_seek_while_a_record_is_handed_over_keeps_the_seeks_read_offset() -> None:
    consumer = Consumer({EVENTS_0: 87})
    await consumer.perform_seek()
    consumer.during_callback = consumer.perform_seek
    await consumer._hand_over(fetched((EVENTS_0, 87)), consumer._seeks)
    assert consumer._read_offset[EVENTS_0] == 87
    assert consumer._next[EVENTS_0] == 87


async def test_records_already_handed_over_are_not_handed_over_again() -> None:
    consumer = Consumer({EVENTS_0: 87})
    await consumer.perform_seek()
    await consumer._hand_over(fetched((EVENTS_0, 87), (EVENTS_0, 88), (EVENTS_0, 87)), consumer._seeks)
    assert consumer.delivered == [(EVENTS_0, 87), (EVENTS_0, 88)]


async def test_revoked_partitions_are_forgotten() -> None:
    consumer = Consumer({EVENTS_0: 87, EVENTS_1: 5})
    await consumer.perform_seek()
    consumer._resend.add(EVENTS_0)
    await consumer.on_partitions_revoked({EVENTS_0})
    assert consumer._next == {EVENTS_1: 5}
    assert consumer._resend == set()
