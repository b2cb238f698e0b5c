"""Taken batches written in order, a bounded number at once, each acknowledged once it is stored."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from faust.types import EventT

from app.agents.batches import PartitionBatch
from app.app import app

WriteShare = Callable[[PartitionBatch, asyncio.Task[int] | None, Callable[[], None]], Awaitable[int]]  # see Pipeline


@dataclass(slots=True)
class _Taken:
    """A taken batch: *written* once its transactions committed, *stored* once its deltas are relayed and its
    events acknowledged."""

    written: asyncio.Future[Any]
    stored: asyncio.Task[None]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Pipeline:
    """Taken batches written, up to ``in_flight`` at once, each acknowledged once it is stored.

    With one, a batch is written before the next is taken, and the next
    is taken while the one before relays its count deltas (a broker round
    trip). With more, a batch's rows go in while the one before it
    commits, so an event waits less for the batch in progress, at the cost
    of holding more batches in memory. Each partition's shares still
    record, commit and relay their count deltas in offset order (``fold``
    drops a delta at or below the partition's high-water mark), and a
    share holding an event id that an earlier share is still storing
    starts only after it (a resend stamped twice would otherwise be stored
    twice, and two transactions waiting on each other's row would wait
    forever).

    A share that waits for its turn holds a connection; at most
    ``pool_size - 1`` do, so an earlier share always finds one.

    ``write(share, earlier, on_written)`` stores one share after
    ``earlier`` (the partition's share before it, or ``None``), calls
    ``on_written`` once its transaction committed, then relays its count
    delta, and returns the rows inserted.
    """

    def __init__(self, write: WriteShare, *, in_flight: int, pool_size: int) -> None:
        self._write = write
        self._in_flight = in_flight if pool_size > 1 else 1
        self._waiting_turn = asyncio.Semaphore(max(pool_size - 1, 1))
        self._batches: deque[_Taken] = deque()
        self._latest: dict[int, asyncio.Task[int]] = {}  # partition -> its latest share
        self._writers: dict[Any, asyncio.Task[int]] = {}  # event id -> the share storing it

    async def submit(self, events: Sequence[EventT[bytes]], groups: list[PartitionBatch]) -> None:
        """Start writing ``groups``, then wait until fewer than ``in_flight`` batches are being written (raising
        an error of one).

        Waiting after starting, not before, bounds what is held: when the
        next batch is taken, at most ``in_flight`` are, none but the last
        still being written.
        """
        for event in events:
            event.message.incref()  # take_events' own ack only drops this reference: ours follows the commit
        shares = [self._start(g) for g in groups]
        written = asyncio.gather(*(w for _, w in shares))
        self._batches.append(_Taken(written, asyncio.create_task(self._store(events, [s for s, _ in shares]))))
        while self._batches:
            if self._batches[0].stored.done() or len(self._batches) > self._in_flight:
                await self._batches.popleft().stored
            elif unwritten := [b.written for b in self._batches if not b.written.done()]:
                if len(unwritten) < self._in_flight:
                    return
                await asyncio.wait(unwritten, return_when=asyncio.FIRST_COMPLETED)
            else:
                return

    async def drain(self) -> None:
        """Wait until every batch in flight is stored (raising the first error)."""
        while self._batches:
            await self._batches.popleft().stored

    async def close(self) -> None:
        """Stop what is in flight: unacknowledged, it is read again (and skipped where stored)."""
        for batch in self._batches:
            batch.stored.cancel()
        await asyncio.gather(*(b.stored for b in self._batches), return_exceptions=True)
        self._batches.clear()

    def _start(self, group: PartitionBatch) -> tuple[asyncio.Task[int], asyncio.Future[None]]:
        earlier = self._latest.get(group.partition)
        # With one batch at a time the one before has committed when this one starts: no id to track.
        ids = [e["id"] for e in group.events if e.get("id") is not None] if self._in_flight > 1 else []
        writing = {self._writers[i] for i in ids if i in self._writers}
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        share = asyncio.create_task(self._share(group, earlier, writing, lambda: _resolve(written)))
        self._latest[group.partition] = share
        self._writers.update(dict.fromkeys(ids, share))
        share.add_done_callback(lambda done: self._finished(done, group.partition, ids, written))
        return share, written

    async def _share(
        self,
        group: PartitionBatch,
        earlier: asyncio.Task[int] | None,
        writing: set[Any],
        on_written: Callable[[], None],
    ) -> int:
        if writing:
            await asyncio.wait(writing)
        if earlier is None or earlier.done():
            return await self._write(group, None, on_written)
        async with self._waiting_turn:
            return await self._write(group, earlier, on_written)

    def _finished(
        self, share: asyncio.Task[int], partition: int, ids: list[Any], written: asyncio.Future[None]
    ) -> None:
        _resolve(written)  # a share that failed before it committed: its error is the batch's
        if self._latest.get(partition) is share:
            del self._latest[partition]
        for i in ids:
            if self._writers.get(i) is share:
                del self._writers[i]

    async def _store(self, events: Sequence[EventT[bytes]], shares: list[asyncio.Task[int]]) -> None:
        await asyncio.gather(*shares)
        for event in events:
            if event.ack():  # the last reference: the offset may be committed
                app.sensors.on_message_out(event.message.tp, event.message.offset, event.message)
