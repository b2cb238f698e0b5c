"""Taken batches written one at a time, in offset order, each acknowledged once it is stored.

A batch is *written* once every partition's share committed its
transaction (rows and count delta), and *stored* once its dead letters and
count deltas are on the broker and its events are acknowledged. The next
batch is taken as soon as the one before is written, so the delta's broker
round trip overlaps the next batch's parsing and inserts; but a partition's
share records its delta only after the share before it relayed its own
(``earlier``), so each partition's deltas reach ``logs.counts`` in offset
order, and ``fold`` can drop any at or below what it has seen.
(One batch in flight: two gained end to end only while holding a third in
memory, bench/RESULTS.md.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from faust.types import EventT

from app.domain.batches import PartitionBatch

WriteShare = Callable[[PartitionBatch, asyncio.Task[int] | None, Callable[[], None]], Coroutine[Any, Any, int]]
OnStored = Callable[[EventT[bytes]], None]


class BatchWriter:
    """Writes taken batches in order; see the module docstring.

    ``write(share, earlier, on_written)`` stores one partition's share after
    ``earlier`` (the partition's share before it, still relaying, or
    ``None``), calls ``on_written`` once its transaction committed, then
    relays its count delta, and returns the rows inserted. ``on_stored`` is
    told of each event whose last reference its acknowledgement dropped.
    """

    def __init__(self, write: WriteShare, on_stored: OnStored) -> None:
        self._write = write
        self._on_stored = on_stored
        self._storing: asyncio.Task[None] | None = None  # the batch before: relaying, then acknowledged
        self._latest: dict[int, asyncio.Task[int]] = {}  # partition -> its latest share

    async def submit(self, events: Sequence[EventT[bytes]], groups: list[PartitionBatch]) -> None:
        """Start writing ``groups``; return once the batch before is stored and this one written (raising an
        error of either)."""
        for event in events:
            event.message.incref()  # take_events' own ack only drops this reference: ours follows the commit
        shares = [self._start(group) for group in groups]
        before = self._storing
        self._storing = storing = asyncio.create_task(self._store(events, [share for share, _ in shares]))
        if before is not None:
            await before
        await asyncio.gather(*(written for _, written in shares))
        if storing.done():
            self._storing = None
            storing.result()

    async def drain(self) -> None:
        """Wait until the batch in flight is stored (raising its error)."""
        storing, self._storing = self._storing, None
        if storing is not None:
            await storing

    async def close(self) -> None:
        """Stop what is in flight: unacknowledged, it is read again (and skipped where stored)."""
        storing, self._storing = self._storing, None
        if storing is not None:
            storing.cancel()
            await asyncio.gather(storing, return_exceptions=True)

    def _start(self, group: PartitionBatch) -> tuple[asyncio.Task[int], asyncio.Future[None]]:
        earlier = self._latest.get(group.partition)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waits_for = None if earlier is None or earlier.done() else earlier
        share = asyncio.create_task(self._write(group, waits_for, lambda: _resolve(written)))
        self._latest[group.partition] = share
        share.add_done_callback(lambda done: self._finished(done, group.partition, written))
        return share, written

    def _finished(self, share: asyncio.Task[int], partition: int, written: asyncio.Future[None]) -> None:
        _resolve(written)  # a share that failed before it committed: its error is the batch's
        if self._latest.get(partition) is share:
            del self._latest[partition]

    async def _store(self, events: Sequence[EventT[bytes]], shares: list[asyncio.Task[int]]) -> None:
        await asyncio.gather(*shares)
        for event in events:
            if event.ack():  # the last reference: the offset may be committed
                self._on_stored(event)


def _resolve(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)
