"""Every worker watches the broker and the persist stage's lag, to shed ingest early and politely.

Twice a second (``WATCH_INTERVAL``) it connects to a bootstrap server (a
stopped broker refuses at once) and asks the broker (within 1 s) for the end offsets of
``logs.events`` and the offsets the persist stage (the Faust group) has
committed. That answers two questions for the ingest views of *this*
worker, whichever worker persists which partition:

* Is the broker reachable? If not, ingest answers 503 at once (and requests
  waiting for an acknowledgement are released) instead of hanging until
  ``INGEST_ACK_TIMEOUT``. Reachable again: ingest resumes by itself. A probe
  that only ran out of time while the broker kept acknowledging this
  worker's writes says the worker is busy, not that the broker is gone (see
  :func:`means_unreachable`).
* Does the broker still hold the pipeline's topics? A dev broker keeps them
  in memory, so one restarted comes back empty, and accepts writes to topics
  it no longer lists, which it drops once they are created again. Having
  seen ``logs.events``, a probe that finds it gone keeps ingest refused and
  calls :attr:`PipelineWatch.on_topics_lost` (the app creates the topics
  again), until the topics are back.
* Is the pipeline keeping up? Lag past ``BACKPRESSURE_HIGH_LAG`` closes the
  :class:`~app.domain.backpressure.LagGate` (429 with ``Retry-After``) until it is
  back under ``BACKPRESSURE_LOW_LAG``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaTimeoutError, RequestTimedOutError
from mode import Service

from app.domain.backpressure import LagGate
from app.domain.topic_layout import EVENTS
from app.kafka.publisher import EnvelopePublisher
from app.ops.metrics import BACKPRESSURE_ACTIVE, BROKER_REACHABLE, PIPELINE_LAG

log = logging.getLogger(__name__)
PROBE_TIMEOUT = 1.0  # a broker that does not answer a metadata-sized request within this is unreachable
CONNECT_TIMEOUT = 5.0  # starting the watch's own clients (bootstrap, metadata) may take longer
METADATA_EVERY = 10.0  # seconds between fresh looks at which topics the broker holds
ACK_GRACE = 2.0  # a probe that times out is forgiven if the broker acknowledged a write this recently
_TIMEOUTS = (TimeoutError, KafkaTimeoutError, RequestTimedOutError)


class TopicsLost(Exception):
    """The broker answers, but no longer holds ``logs.events``: it came back empty."""


def means_unreachable(error: BaseException, *, acked_recently: bool) -> bool:
    """Whether a failed probe means the broker is gone.

    A refused connection or a broker error does. A probe that only ran out of
    time does unless the broker acknowledged writes of this worker during the
    probe or the :data:`ACK_GRACE` seconds before it: then the answer was late
    because this process is overloaded (an open loop of 2,000 POSTs/s made
    every probe time out, and ingest answered 503 "unreachable" to half of
    them), and refusing ingest would turn a busy worker into an outage. A
    broker that hangs stops acknowledging too, and is found out a grace
    period later.
    """
    return not (isinstance(error, _TIMEOUTS) and acked_recently)


class PipelineWatch(Service):
    def __init__(
        self,
        bootstrap: str,
        group: str,
        publisher: EnvelopePublisher,
        gate: LagGate,
        interval: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._bootstrap = bootstrap
        self._group = group
        self._publisher = publisher
        self.gate = gate
        self._interval = interval
        self.broker_reachable = True
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._last: tuple[float, int] | None = None  # (when, committed offsets in total)
        self._lag_unknown = False
        self.partition_lags: dict[int, int] = {}  # logs.events partition -> records not yet committed by the group
        self.on_topics_lost: Callable[[], Awaitable[None]] | None = None  # set by the app: create them again
        self._events_seen = False
        self._metadata_at = 0.0  # when the metadata was last asked afresh
        self._ends: dict[TopicPartition, int] = {}

    def report(self) -> dict[str, Any]:
        """What ``/ready`` shows of it."""
        return {
            "broker_reachable": self.broker_reachable,
            "backpressure": self.gate.closed,
            "lag": self.gate.lag,
            "high_water": self.gate.high,
            "low_water": self.gate.low,
            "drain_rate": round(self.gate.drain_rate, 1),
        }

    @Service.task
    async def _watch(self) -> None:
        while not self.should_stop:
            started = time.monotonic()
            try:
                await self._tcp_reachable()
                admin, consumer = await asyncio.wait_for(self._clients(), CONNECT_TIMEOUT)
                ends = await asyncio.wait_for(self._end_offsets(consumer), PROBE_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - any failure to ask the broker may mean "unreachable"
                reason = str(exc) or type(exc).__name__
                if not means_unreachable(exc, acked_recently=self._publisher.last_acked >= started - ACK_GRACE):
                    log.debug("broker probe: %s, but the broker acknowledged writes meanwhile: busy, not gone", reason)
                else:
                    self._unreachable(reason)
                    # Fresh clients next time: ones interrupted mid-request may hold a dead connection.
                    stale = (self._admin, self._consumer)
                    self._admin, self._consumer = None, None
                    await _close(*stale)
                    if isinstance(exc, TopicsLost):
                        await self._topics_lost()
            else:
                self._reachable()
                await self._measure_lag(admin, ends)
            await self.sleep(max(self._interval - (time.monotonic() - started), 0.05))

    async def _measure_lag(self, admin: AIOKafkaAdminClient, ends: dict[TopicPartition, int]) -> None:
        """Lag from the group's committed offsets; a broker that will not tell leaves the gate as it is."""
        try:
            offsets = await asyncio.wait_for(
                admin.list_consumer_group_offsets(self._group, partitions=list(ends)), PROBE_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - e.g. no Describe permission on the group: no backpressure
            if not self._lag_unknown:
                log.warning("cannot read the persist group's offsets (%s); backpressure paused", exc)
            self._lag_unknown = True
            return
        self._lag_unknown = False
        lag = committed = 0
        lags = {}
        for tp, end in ends.items():
            meta = offsets.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            committed += done
            lags[tp.partition] = max(end - done, 0)
            lag += lags[tp.partition]
        self.partition_lags = lags
        self._observe(lag, committed)

    async def _tcp_reachable(self) -> None:
        """A TCP connection to any bootstrap server: a stopped broker refuses it at once, loaded or not.

        Raises :class:`TimeoutError` when no server answered in time and none refused.
        """
        error: OSError | None = None
        for address in self._bootstrap.split(","):
            host, _, port = address.strip().rpartition(":")
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(host or "127.0.0.1", int(port)), 0.5)
            except TimeoutError:
                error = error or TimeoutError(f"connecting to {address} timed out")
                continue
            except OSError as exc:
                error = exc if error is None or isinstance(error, TimeoutError) else error
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        raise error or OSError("no bootstrap server")

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, request_timeout_ms=5000)
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, request_timeout_ms=5000)
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                await _close(admin, consumer)
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def _end_offsets(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
        # A dev broker restarted between two probes answers for a topic it no longer holds as if it were
        # there: the metadata is asked afresh every METADATA_EVERY seconds, and at once when an end offset
        # went back (a broker's offsets never do), not on every probe (twice a second, on every worker).
        partitions = consumer.partitions_for_topic(EVENTS)
        if not partitions or time.monotonic() - self._metadata_at >= METADATA_EVERY:
            await consumer._client.force_metadata_update()  # no public way to ask for one topic's metadata
            self._metadata_at = time.monotonic()
            partitions = consumer.partitions_for_topic(EVENTS) or set()
        if not partitions and self._events_seen:
            raise TopicsLost(f"the broker no longer holds {EVENTS}: it came back empty")
        self._events_seen = self._events_seen or bool(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets([TopicPartition(EVENTS, p) for p in partitions])
        if any(end < self._ends.get(tp, 0) for tp, end in ends.items()):
            self._metadata_at = 0.0
        self._ends = ends
        return ends

    async def _topics_lost(self) -> None:
        if self.on_topics_lost is None:
            return
        try:
            await self.on_topics_lost()
        except Exception:
            log.exception("creating the topics again failed; the next probe tries again")

    def _observe(self, lag: int, committed: int) -> None:
        now = time.monotonic()
        rate = None
        if self._last is not None and now > self._last[0]:
            rate = max(committed - self._last[1], 0) / (now - self._last[0])
        self._last = (now, committed)
        was = self.gate.closed
        shed = self.gate.observe(lag, rate)
        if shed != was:
            log.warning(
                "backpressure %s: logs.events lag %d (high %d, low %d)",
                "ON, ingest answers 429" if shed else "off",
                lag,
                self.gate.high,
                self.gate.low,
            )
        PIPELINE_LAG.set(lag)
        BACKPRESSURE_ACTIVE.set(1 if shed else 0)

    def _unreachable(self, reason: str) -> None:
        if self.broker_reachable:
            log.warning("broker unreachable (%s): ingest answers 503 until it is back", reason)
        self.broker_reachable = False
        BROKER_REACHABLE.set(0)
        self._publisher.broker_unreachable(reason)

    def _reachable(self) -> None:
        if not self.broker_reachable:
            log.info("broker reachable again: ingest resumes")
        self.broker_reachable = True
        BROKER_REACHABLE.set(1)
        self._publisher.broker_reachable()

    async def on_stop(self) -> None:
        await _close(self._admin, self._consumer)


async def _close(admin: AIOKafkaAdminClient | None, consumer: AIOKafkaConsumer | None) -> None:
    for client in (consumer, admin):
        if client is not None:
            try:
                await (client.stop() if isinstance(client, AIOKafkaConsumer) else client.close())
            except Exception as exc:  # noqa: BLE001 - closing a client of a dead broker may fail; nothing to do
                log.debug("closing a watch client: %s", exc)
