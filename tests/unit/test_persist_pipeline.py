"""The persist order: one batch written at a time, the next taken while the one before relays, a partition's
deltas in offset order, and every event acknowledged only once its batch is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from faust.types import EventT

from app.agents.persist_order import BatchWriter
from app.domain.batches import PartitionBatch


@dataclass
class FakeMessage:
    refs: int = 1

    def incref(self) -> None:
        self.refs += 1


@dataclass
class FakeEvent:
    """What the pipeline uses of a Faust event: a reference count and ``ack``."""

    message: FakeMessage = field(default_factory=FakeMessage)
    acks: int = 0

    def ack(self) -> bool:
        self.acks += 1
        self.message.refs -= 1
        return self.message.refs == 0


class FakeStorage:
    """Stands in for the persist agent's writer: each share commits, then relays, when the test lets it."""

    def __init__(self) -> None:
        self.started: list[tuple[int, int]] = []  # (partition, end offset) in the order shares began writing
        self.earlier: dict[tuple[int, int], asyncio.Task[Any] | None] = {}
        self.release: dict[tuple[int, int], asyncio.Event] = {}
        self.relayed: dict[tuple[int, int], asyncio.Event] = {}

    async def write(
        self, group: PartitionBatch, earlier: asyncio.Task[Any] | None, on_written: Callable[[], None]
    ) -> int:
        key = (group.partition, group.end_offset)
        self.started.append(key)
        self.earlier[key] = earlier
        await self.release.setdefault(key, asyncio.Event()).wait()
        if earlier is not None:
            await asyncio.wait({earlier})
        on_written()
        await self.relayed.setdefault(key, asyncio.Event()).wait()
        return len(group.events)

    def commit(self, partition: int, end_offset: int) -> None:
        self.release.setdefault((partition, end_offset), asyncio.Event()).set()

    def finish(self, partition: int, end_offset: int) -> None:
        self.commit(partition, end_offset)
        self.relayed.setdefault((partition, end_offset), asyncio.Event()).set()


@pytest.fixture
def storage() -> FakeStorage:
    return FakeStorage()


def share(partition: int, end_offset: int, *ids: str) -> PartitionBatch:
    return PartitionBatch(partition, end_offset, [{"id": i} for i in ids], [end_offset] * len(ids))


async def until(condition: Any) -> None:
    """Let the event loop run until ``condition()`` holds (each turn lets every ready task step)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def idle() -> None:
    """Let the event loop turn a hundred times, so every ready task steps (to assert that something did *not*
    happen)."""
    for _ in range(100):
        await asyncio.sleep(0)


def as_events(fakes: list[FakeEvent]) -> list[EventT[bytes]]:
    """The fakes as the writer's signature names them: it uses only ``ack()`` and the message's reference count."""
    return cast("list[EventT[bytes]]", fakes)


def writer(storage: FakeStorage, stored: list[FakeEvent] | None = None) -> BatchWriter:
    return BatchWriter(storage.write, (stored if stored is not None else []).append)  # type: ignore[arg-type]  # fakes for Faust events


async def test_events_are_acknowledged_only_once_their_batch_is_stored(storage: FakeStorage) -> None:
    stored: list[FakeEvent] = []
    batches = writer(storage, stored)
    events = [FakeEvent(), FakeEvent()]
    taking = asyncio.create_task(batches.submit(as_events(events), [share(0, 1, "a"), share(1, 1, "b")]))
    for event in events:
        event.ack()  # what take_events does when the agent takes the next batch
    storage.finish(0, 1)
    await until(lambda: storage.started == [(0, 1), (1, 1)])
    await idle()
    assert not taking.done(), "one share still writing: the next batch waits"
    assert [e.acks for e in events] == [1, 1] and all(e.message.refs == 1 for e in events), "still held"
    storage.finish(1, 1)
    await taking
    await batches.drain()
    assert [e.acks for e in events] == [2, 2] and all(e.message.refs == 0 for e in events)
    assert stored == events, "each event's last reference is reported once"


async def test_the_next_batch_is_taken_while_the_one_before_relays(storage: FakeStorage) -> None:
    """The count delta's broker round trip is not part of the batch cycle; the acknowledgement still waits for it."""
    batches = writer(storage)
    first = [FakeEvent()]
    taking = asyncio.create_task(batches.submit(as_events(first), [share(0, 1, "a")]))
    await until(lambda: storage.started == [(0, 1)])
    assert not taking.done(), "the next batch waits for this one's commit"
    storage.commit(0, 1)
    await taking
    assert first[0].acks == 0, "not acknowledged before its delta is relayed"
    second = asyncio.create_task(batches.submit(as_events([FakeEvent()]), [share(0, 2, "b")]))
    await until(lambda: storage.started == [(0, 1), (0, 2)])
    assert storage.earlier[(0, 2)] is not None, "its delta is recorded after the one before is relayed"
    storage.commit(0, 2)
    await idle()
    assert not second.done(), "the batch before is not stored yet: the next is not taken"
    storage.finish(0, 1)
    await until(lambda: first[0].acks == 1)
    await until(second.done)
    storage.finish(0, 2)
    await batches.drain()


async def test_a_partition_with_nothing_in_flight_writes_at_once(storage: FakeStorage) -> None:
    batches = writer(storage)
    storage.finish(0, 1)
    await batches.submit(as_events([FakeEvent()]), [share(0, 1, "a")])
    await batches.drain()
    storage.finish(0, 2)
    await batches.submit(as_events([FakeEvent()]), [share(0, 2, "b")])
    assert storage.started == [(0, 1), (0, 2)] and storage.earlier[(0, 2)] is None


async def test_a_failed_batch_fails_the_next_submit() -> None:
    async def broken(group: PartitionBatch, earlier: Any, on_written: Any) -> int:
        raise RuntimeError("a bug, not an outage")

    batches = BatchWriter(broken, lambda event: None)
    event = FakeEvent()
    with pytest.raises(RuntimeError, match="a bug"):  # at the latest when the next batch is taken
        await batches.submit(as_events([event]), [share(0, 1, "a")])
        await batches.submit(as_events([FakeEvent()]), [share(0, 2, "b")])
    assert event.acks == 0, "never acknowledged: read again after the restart"
    await batches.close()


async def test_closing_stops_what_is_in_flight_unacknowledged(storage: FakeStorage) -> None:
    batches = writer(storage)
    event = FakeEvent()
    storage.commit(0, 1)
    await batches.submit(as_events([event]), [share(0, 1, "a")])
    await batches.close()
    assert event.acks == 0
