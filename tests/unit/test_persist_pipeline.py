"""The persist pipeline's order: batches overlap, a partition's shares and an event id's writers do not skip ahead."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.agents.batches import PartitionBatch
from app.agents.pipeline import Pipeline


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
        return False  # not the last reference here: no sensor is told


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


async def test_the_next_batch_writes_while_the_one_before_is_in_flight(storage: FakeStorage) -> None:
    pipeline = Pipeline(storage.write, in_flight=2, pool_size=4)
    await pipeline.submit([FakeEvent()], [share(0, 1, "a")])  # type: ignore[arg-type]
    second = asyncio.create_task(pipeline.submit([FakeEvent()], [share(0, 2, "b")]))  # type: ignore[arg-type]
    await until(lambda: storage.started == [(0, 1), (0, 2)])
    earlier = storage.earlier[(0, 2)]
    assert earlier is not None and not earlier.done(), "the second share is told which one commits first"
    assert storage.earlier[(0, 1)] is None
    assert not second.done(), "two in flight: the next batch is taken once the first is stored"
    storage.finish(0, 1)
    await second
    storage.finish(0, 2)
    await pipeline.drain()
    assert earlier.done()


async def test_events_are_acknowledged_only_once_their_batch_is_stored(storage: FakeStorage) -> None:
    pipeline = Pipeline(storage.write, in_flight=2, pool_size=4)
    events = [FakeEvent(), FakeEvent()]
    await pipeline.submit(events, [share(0, 1, "a"), share(1, 1, "b")])  # type: ignore[arg-type]
    for event in events:
        event.ack()  # what take_events does when the agent takes the next batch
    storage.finish(0, 1)
    await until(lambda: storage.started == [(0, 1), (1, 1)])
    assert [e.acks for e in events] == [1, 1] and all(e.message.refs == 1 for e in events), "still held"
    storage.finish(1, 1)
    await pipeline.drain()
    assert [e.acks for e in events] == [2, 2] and all(e.message.refs == 0 for e in events)


async def test_an_event_id_still_being_written_holds_back_its_next_writer(storage: FakeStorage) -> None:
    """A resend stamped anew lands in another partition's share: it waits for the first copy's commit."""
    pipeline = Pipeline(storage.write, in_flight=2, pool_size=4)
    await pipeline.submit([FakeEvent()], [share(0, 1, "same", "a")])  # type: ignore[arg-type]
    second = asyncio.create_task(
        pipeline.submit([FakeEvent()], [share(1, 7, "same"), share(2, 3, "c")])  # type: ignore[arg-type]
    )
    await until(lambda: (2, 3) in storage.started)
    assert (1, 7) not in storage.started
    storage.finish(0, 1)
    await until(lambda: (1, 7) in storage.started)
    storage.finish(1, 7)
    storage.finish(2, 3)
    await second
    await pipeline.drain()


async def test_with_one_in_flight_the_next_batch_is_taken_while_the_one_before_relays(storage: FakeStorage) -> None:
    """The count delta's broker round trip is not part of the batch cycle; the acknowledgement still waits for it."""
    pipeline = Pipeline(storage.write, in_flight=1, pool_size=4)
    first = [FakeEvent()]
    taking = asyncio.create_task(pipeline.submit(first, [share(0, 1, "a")]))  # type: ignore[arg-type]
    await until(lambda: storage.started == [(0, 1)])
    assert not taking.done(), "one in flight: the next batch waits for this one's commit"
    storage.commit(0, 1)
    await taking
    assert first[0].acks == 0, "not acknowledged before its delta is relayed"
    second = asyncio.create_task(pipeline.submit([FakeEvent()], [share(0, 2, "b")]))  # type: ignore[arg-type]
    await until(lambda: storage.started == [(0, 1), (0, 2)])
    assert storage.earlier[(0, 2)] is not None, "its delta is recorded after the one before is relayed"
    storage.commit(0, 2)
    await idle()
    assert not second.done(), "two held: the next is taken once the first is stored"
    storage.finish(0, 1)
    await until(lambda: first[0].acks == 1)
    await until(second.done)
    storage.finish(0, 2)
    await pipeline.drain()


async def test_at_most_in_flight_batches_are_held(storage: FakeStorage) -> None:
    """Each taken batch is held parsed until it is stored: the next is taken only when at most ``in_flight`` are,
    and fewer are being written."""
    pipeline = Pipeline(storage.write, in_flight=2, pool_size=4)
    await pipeline.submit([FakeEvent()], [share(0, 1, "a")])  # type: ignore[arg-type]
    second = asyncio.create_task(pipeline.submit([FakeEvent()], [share(1, 1, "b")]))  # type: ignore[arg-type]
    await until(lambda: len(storage.started) == 2)
    await idle()
    assert not second.done(), "two being written"
    storage.commit(0, 1)
    storage.commit(1, 1)
    await second
    third = asyncio.create_task(pipeline.submit([FakeEvent()], [share(2, 1, "c")]))  # type: ignore[arg-type]
    await until(lambda: len(storage.started) == 3)
    await idle()
    assert not third.done(), "three held: the oldest is still relaying"
    storage.finish(0, 1)
    await third
    for partition in (1, 2):
        storage.finish(partition, 1)
    await pipeline.drain()


async def test_one_connection_writes_one_batch_at_a_time(storage: FakeStorage) -> None:
    """A share waiting for its turn holds a connection: with only one, each batch is stored before the next."""
    pipeline = Pipeline(storage.write, in_flight=2, pool_size=1)
    first = asyncio.create_task(pipeline.submit([FakeEvent()], [share(0, 1, "a")]))  # type: ignore[arg-type]
    await until(lambda: storage.started == [(0, 1)])
    assert not first.done()
    storage.finish(0, 1)
    await first
    storage.finish(0, 2)
    await pipeline.submit([FakeEvent()], [share(0, 2, "b")])  # type: ignore[arg-type]
    assert storage.started == [(0, 1), (0, 2)] and storage.earlier[(0, 2)] is None


async def test_a_failed_batch_fails_the_next_submit() -> None:
    async def broken(group: PartitionBatch, earlier: Any, on_written: Any) -> int:
        raise RuntimeError("a bug, not an outage")

    pipeline = Pipeline(broken, in_flight=2, pool_size=4)
    event = FakeEvent()
    await pipeline.submit([event], [share(0, 1, "a")])  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="a bug"):  # at the latest when the pipeline is full again
        await pipeline.submit([FakeEvent()], [share(0, 2, "b")])  # type: ignore[arg-type]
        await pipeline.submit([FakeEvent()], [share(0, 3, "c")])  # type: ignore[arg-type]
    assert event.acks == 0, "never acknowledged: read again after the restart"
    await pipeline.close()
