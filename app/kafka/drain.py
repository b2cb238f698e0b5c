"""Records reach the streams in offset order from the last seek, never from a fetch that a seek overtook.

Faust's consumer (faust-streaming 0.15) hands records to the streams from
``_drain_messages``, and decides from each record's offset and the
partition's read offset whether offsets were skipped. After a rebalance it
seeks every partition back to its committed offset and sets the read
offset there. A fetch that was on its way during that seek still delivers
records from the old position: Faust then takes the offsets between the
committed one and that record for a gap (and counts a gap as acknowledged),
moves the read offset past them, and drops the re-read records below it as
already seen. Offsets get committed whose records no stream ever
processed: seen as events neither stored nor dead-lettered after a worker
of two was killed while events flowed (faust-streaming/faust#221 and #606
describe the same two halves).

The loop below is Faust's, with three rules added:

- a record from a fetch that began before the latest seek started is
  passed on only if it is the very next offset of its partition (records
  are immutable, so that one is the record a fresh fetch would bring);
  any other is dropped, and the partition is sought back to its next
  offset so nothing dropped is skipped;
- while a seek runs, nothing is passed on;
- the read offset moves only if no seek started while the record was
  being handed over, and a gap never includes the record that revealed it
  (Faust counts that record as acknowledged before any stream has seen it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP
from mode import Service


class OrderedDrain:
    """Consumer mixin: Faust's drain loop, fenced against records fetched before a seek (see module)."""

    _read_offset: MutableMapping[TP, int | None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seeks = 0  # bumped as a seek starts and as it ends: a fetch that began at another count may be stale
        self._seeking = 0  # seeks running now
        self._next: dict[TP, int] = {}  # the offset each partition must deliver next, where known
        self._resend: set[TP] = set()  # partitions whose records were dropped: seek back to _next

    async def perform_seek(self) -> None:
        self._seeks += 1
        self._seeking += 1
        try:
            await super().perform_seek()  # type: ignore[misc]
        finally:
            self._seeking -= 1
            self._seeks += 1
        self._next.clear()
        for tp, offset in list(self._read_offset.items()):
            if offset is not None:
                self._next[tp] = offset

    async def seek(self, partition: TP, offset: int) -> None:
        self._seeks += 1
        self._seeking += 1
        try:
            await super().seek(partition, offset)  # type: ignore[misc]
        finally:
            self._seeking -= 1
            self._seeks += 1
        self._next[partition] = offset
        self._resend.discard(partition)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._next.pop(tp, None)
            self._resend.discard(tp)
        await super().on_partitions_revoked(revoked)  # type: ignore[misc]

    def admit(self, tp: TP, offset: int, fetched_at: int) -> bool:
        """Whether a record of a fetch that began at seek count ``fetched_at`` may reach the streams now."""
        expected = self._next.get(tp)
        if self._seeking:
            self._resend.add(tp)
            return False
        if expected is None:
            return True
        if offset < expected:
            return False  # already handed over since the last seek
        if offset == expected or fetched_at == self._seeks:
            return True  # the next record, or a real gap seen by a fetch no seek overtook
        self._resend.add(tp)
        return False

    async def _resend_dropped(self) -> None:
        me: Any = self
        assigned = me.assignment()
        for tp in sorted(self._resend):
            expected = self._next.get(tp)
            if tp in assigned and expected is not None:
                await self.seek(tp, expected)
        self._resend.clear()

    async def _drain_messages(self, fetcher: Service) -> None:  # pragma: no cover - run by the integration tests
        me: Any = self
        try:
            while not (me._stopped.is_set() or fetcher._stopped.is_set()):
                me.diag.set_flag(CONSUMER_FETCHING)
                fetched_at = self._seeks
                records: AsyncIterator[Any] = me.getmany(timeout=1.0)
                await me.sleep(0)
                if not me.should_stop:
                    await self._hand_over(records, fetched_at)
                if self._resend and not self._seeking:
                    await self._resend_dropped()
                me.diag.unset_flag(CONSUMER_FETCHING)
        except me.consumer_stopped_errors:
            if me.transport.app.should_stop:
                me.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if me.transport.app.should_stop:
                me.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            me.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            me.diag.unset_flag(CONSUMER_FETCHING)

    async def _hand_over(self, records: AsyncIterator[Any], fetched_at: int) -> None:
        """Pass each admitted record to the streams, as Faust's loop does, and move the read offset."""
        me: Any = self
        acks_enabled_for = me.app.topics.acks_enabled_for
        since_yield = 0
        async for tp, message in records:
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            if me._commit_every is not None and me._n_acked >= me._commit_every:
                me._n_acked = 0
                await me.commit()
            offset = message.offset
            if not self.admit(tp, offset, fetched_at):
                continue
            expected = self._next.get(tp)
            seeks = self._seeks
            if expected is not None and offset > expected and acks_enabled_for(message.topic):
                await me._add_gap(tp, expected, offset - 1)  # offsets with no record: compacted, or markers
                if self._seeks != seeks:
                    continue
            await me.wait_first(me.callback(message), me.suspend_flow.wait())
            if self._seeks == seeks:
                self._read_offset[tp] = offset
                self._next[tp] = offset + 1
