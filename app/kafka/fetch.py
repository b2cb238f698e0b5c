"""How long a fetch may wait at the broker for records: one setting for every consumer logpipe runs.

A consumer asks the broker for records and says how long the broker may
hold the request while none are there (``fetch_max_wait_ms``). Apache Kafka
answers as soon as ``fetch.min.bytes`` arrive, so there the wait only sets
how often an idle consumer asks again. The development broker (tansu)
answers a waiting fetch only when its wait ends, so there the wait is
also how late a record can be delivered: a plain consumer measured delivery
p50 115 ms at aiokafka's default of 500 ms, 17 ms at 100 and 5 ms at 20.
Faust fixes its own consumer's wait at 1,500 ms, so it is set here for
every consumer from ``BROKER_FETCH_MAX_WAIT``.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread


def fetch_max_wait_ms(seconds: float) -> int:
    """The setting in the unit the Kafka clients take."""
    return max(int(seconds * 1000), 1)


class _WaitingConsumerThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, whose aiokafka consumer waits ``fetch_wait_ms`` per fetch."""

    fetch_wait_ms: int = 1500

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes fetch_max_wait_ms=1500 with no setting to change it; aiokafka reads this
        # attribute when the consumer starts (AIOKafkaConsumer.start builds the Fetcher from it).
        consumer._fetch_max_wait_ms = self.fetch_wait_ms
        return consumer


def waiting_thread_class(wait_ms: int) -> type[AIOKafkaConsumerThread]:
    """A consumer-thread class for Faust's consumer with this fetch wait."""
    return type("WaitingConsumerThread", (_WaitingConsumerThread,), {"fetch_wait_ms": wait_ms})


class FetchWait:
    """Consumer mixin: Faust's consumer thread is one whose fetches wait :attr:`thread_class`'s time."""

    thread_class: type[AIOKafkaConsumerThread] = _WaitingConsumerThread

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        me: Any = self
        return self.thread_class(me, loop=me.loop, beacon=me.beacon)
