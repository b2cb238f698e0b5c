"""A commit the broker refused leaves no committed offset behind (see app.kafka.offsets).

The commit and the seek are Faust's own code, run on a stand-in for the
transport's consumer whose broker refuses commits while the group
rebalances, and whose revocation clears its partitions the way Faust's does.
"""

from __future__ import annotations

import inspect
import logging
from collections import defaultdict
from collections.abc import Mapping, MutableMapping
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from app.app import app
from app.kafka.fetch import FetchWait, _WaitingConsumerThread, fetch_max_wait_ms
from app.kafka.offsets import RefusedCommitsForgotten

EVENTS_0, EVENTS_1 = TP("logs.events", 0), TP("logs.events", 1)


async def _nothing(*args: Any) -> None:
    return None


class TransportConsumer:
    """What Faust's ``_commit_offsets`` and ``perform_seek`` use of a consumer, with their code."""

    in_transaction = False
    _read_offset: MutableMapping[TP, int | None]
    _committed_offset: MutableMapping[TP, int | None]

    def __init__(self, on_broker: dict[TP, int | None]) -> None:
        self.on_broker = on_broker
        self.rebalancing = False
        self.log = SimpleNamespace(dev=logging.debug, info=logging.info, log=logging.log)
        self.app = SimpleNamespace(
            producer=SimpleNamespace(flush=_nothing),
            tables=SimpleNamespace(on_commit=lambda offsets: None),
            monitor=SimpleNamespace(on_tp_commit=lambda offsets: None),
        )
        self._read_offset = defaultdict(lambda: None)
        self._committed_offset = defaultdict(lambda: None)

    # Faust's own code, run on this stand-in: it has all of a consumer that code uses, but is not one.
    async def _commit_offsets(self, offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        return await FaustConsumer._commit_offsets(self, offsets, start_new_transaction)  # type: ignore[arg-type]

    async def perform_seek(self) -> None:
        await FaustConsumer.perform_seek(self)  # type: ignore[arg-type]

    def assignment(self) -> set[TP]:
        return set(self.on_broker)

    def revoke(self) -> None:
        for tp in self.on_broker:
            self._read_offset.pop(tp, None)
            self._committed_offset.pop(tp, None)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        if self.rebalancing:
            self.revoke()  # the revocation runs while the refused commit is on its way back
            return False
        self.on_broker.update(offsets)
        return True

    async def seek_to_committed(self) -> Mapping[TP, int | None]:
        return dict(self.on_broker)


class LogpipeConsumer(RefusedCommitsForgotten, TransportConsumer):
    pass


async def refused_then_back(consumer: TransportConsumer) -> None:
    """Partition 0 never committed, partition 1 committed up to 3; then both are processed up to offset 5,
    the commit is refused by a rebalance, and both partitions come back to this worker."""
    assert await consumer._commit_offsets({EVENTS_1: 3})
    consumer.rebalancing = True
    assert not await consumer._commit_offsets({EVENTS_0: 6, EVENTS_1: 6})
    consumer.rebalancing = False
    await consumer.perform_seek()


async def test_faust_alone_keeps_the_offset_of_a_refused_commit() -> None:
    consumer = TransportConsumer({EVENTS_0: None, EVENTS_1: None})
    await refused_then_back(consumer)
    assert consumer._committed_offset[EVENTS_0] == 6  # why the mixin exists: if this fails, Faust fixed it


async def test_a_refused_commit_leaves_the_brokers_offsets() -> None:
    consumer = LogpipeConsumer({EVENTS_0: None, EVENTS_1: None})
    await refused_then_back(consumer)
    assert consumer.on_broker == {EVENTS_0: None, EVENTS_1: 3}
    assert consumer._committed_offset[EVENTS_0] is None  # read again from the start, every ack counts
    assert consumer._committed_offset[EVENTS_1] == 3
    assert await consumer._commit_offsets({EVENTS_0: 6})
    assert consumer._committed_offset[EVENTS_0] == 6


def test_the_apps_consumers_forget_refused_commits() -> None:
    consumer = app.transport.Consumer
    assert consumer.__mro__[1] is RefusedCommitsForgotten
    assert type(app.transport).Consumer in consumer.__mro__


def test_fausts_consumer_fetches_wait_as_set() -> None:
    faust_thread = AIOKafkaConsumerThread
    consumer = app.transport.Consumer
    assert issubclass(consumer, FetchWait)
    thread = consumer.thread_class
    assert issubclass(thread, faust_thread) and issubclass(thread, _WaitingConsumerThread)
    assert thread.fetch_wait_ms == fetch_max_wait_ms(app.settings.broker_fetch_max_wait)
    source = inspect.getsource(faust_thread._create_worker_consumer)
    assert "fetch_max_wait_ms=1500" in source  # why the override exists: if this fails, Faust made it a setting
