"""Micro-batched envelopes from concurrent ingest requests to ``logs.events``.

Every ingest request must wait for the broker's acknowledgement before it
answers 202, but must not pay a broker round trip (nor a Faust record on the
persist side) of its own: events of requests arriving in the same turn of the
event loop (or within ``linger`` seconds, when set) share one envelope, one
record, one acknowledgement; under load one turn serves many requests, and
the producer batches envelopes sent while others are in flight.

While an envelope waits for its acknowledgement, the next one gathers
requests until that acknowledgement comes (at most ``busy_linger``): an
idle worker sends each request at once, a busy one sends fewer, fuller
envelopes. An envelope costs the worker a few hundred µs whatever it holds
(producing it, then persisting it as a Faust record): at 1,500 single
POSTs/s with rate limits on, 2.5 requests an envelope became 4.8, the
worker's CPU per request went from 535 to 490 µs and p99 from 106 to
22-54 ms (bench/RESULTS.md).

When ``max_waiting`` requests already wait for acknowledgements, a new one
is refused at once (:class:`Overloaded`) rather than queued behind them: an
open loop above what the worker hands to the broker otherwise waits out
``ack_timeout`` (measured at 1,500 POSTs/s: p50 3.8-4.8 s unbounded,
0.5-0.9 s with the excess refused).
"""

from __future__ import annotations

import asyncio
import time
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from app.errors import BrokerUnavailable, Overloaded

Headers = list[tuple[str, bytes]]
Send = Callable[[bytes, Headers | None], Awaitable[Awaitable[Any]]]


class EnvelopePublisher:
    """Gathers events into envelopes of at most ``max_bytes`` and sends them with ``send``."""

    def __init__(
        self,
        send: Send,
        *,
        max_bytes: int,
        linger: float,
        ack_timeout: float,
        max_waiting: int = 0,
        busy_linger: float = 0.0,
    ) -> None:
        self._send = send
        self._busy_linger = busy_linger  # 0: an envelope never waits for the one before it
        self._holding = False  # the timer is a busy linger, which an acknowledgement cuts short
        self._max_waiting = max_waiting  # 0: no bound
        self.waiting = 0  # publish() calls (requests) not yet acknowledged or given up
        self._max_bytes = max_bytes
        self._linger = linger
        self._ack_timeout = ack_timeout
        self._parts: list[bytes] = []
        self._traceparents: list[str] = []
        self._size = 2
        self._acked: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._unreachable: str | None = None
        self._gone: asyncio.Future[None] | None = None  # resolved when the broker is found unreachable
        self.last_acked = float("-inf")  # time.monotonic() of the broker's latest acknowledgement

    def broker_unreachable(self, reason: str) -> None:
        """The broker cannot be reached: refuse new events at once, and stop the waiting ones waiting."""
        self._unreachable = reason
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    def broker_reachable(self) -> None:
        self._unreachable = None
        if self._gone is not None and self._gone.done():
            self._gone = None

    async def publish(self, events: Sequence[dict[str, Any]], *, traceparent: str | None = None) -> None:
        """Return once every event is acknowledged; raise :class:`BrokerUnavailable` otherwise.

        Raises :class:`Overloaded` at once, sending nothing, when
        ``max_waiting`` requests already wait.
        ``traceparent`` travels as a header of every envelope holding these events.
        """
        if self._unreachable is not None:
            raise BrokerUnavailable(f"the broker is unreachable ({self._unreachable})")
        if self._max_waiting and self.waiting >= self._max_waiting:
            raise Overloaded(
                f"this worker is overloaded: {self.waiting:,} requests already wait for the broker"
                f" (limit {self._max_waiting:,})"
            )
        self.waiting += 1
        try:
            await self._publish(events, traceparent)
        finally:
            self.waiting -= 1

    async def _publish(self, events: Sequence[dict[str, Any]], traceparent: str | None) -> None:
        waits: list[asyncio.Future[None]] = []
        for event in events:
            encoded = orjson.dumps(event)
            if self._parts and self._size + len(encoded) + 1 > self._max_bytes:
                self._flush()
            if traceparent is not None and (not self._traceparents or self._traceparents[-1] != traceparent):
                self._traceparents.append(traceparent)
            self._parts.append(encoded)
            self._size += len(encoded) + 1
            if self._acked is None:
                self._acked = asyncio.get_running_loop().create_future()
            if not waits or waits[-1] is not self._acked:
                waits.append(self._acked)
        if self._size >= self._max_bytes:
            self._flush()
        elif self._parts and self._timer is None:
            self._holding = bool(self._inflight) and self._busy_linger > self._linger
            wait = self._busy_linger if self._holding else self._linger
            self._timer = asyncio.get_running_loop().call_later(wait, self._flush)
        acks: asyncio.Future[Any] = asyncio.gather(*(asyncio.shield(w) for w in waits))
        if self._gone is None:
            self._gone = asyncio.get_running_loop().create_future()
        gone: asyncio.Future[Any] = self._gone
        done, _ = await asyncio.wait({acks, gone}, timeout=self._ack_timeout, return_when=FIRST_COMPLETED)
        if acks not in done:
            acks.cancel()
            acks.add_done_callback(_retrieve)
            if done:
                raise BrokerUnavailable(f"the broker became unreachable ({self._unreachable})")
            raise BrokerUnavailable(f"no acknowledgement from the broker within {self._ack_timeout:g}s")
        try:
            acks.result()
        except Exception as exc:
            raise BrokerUnavailable(f"the broker refused the write: {exc}") from exc

    def _flush(self) -> None:
        self._holding = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._parts or self._acked is None:
            return
        envelope = b"[" + b",".join(self._parts) + b"]"
        headers = [("traceparent", tp.encode()) for tp in self._traceparents] or None
        acked = self._acked
        self._parts, self._traceparents, self._size, self._acked = [], [], 2, None
        task = asyncio.get_running_loop().create_task(self._deliver(envelope, headers, acked))
        self._inflight.add(task)
        task.add_done_callback(self._delivered)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        """An envelope is through: what gathered behind it goes now, not when its busy linger ends."""
        self._inflight.discard(task)
        if self._holding and not self._inflight:
            self._flush()

    async def _deliver(self, envelope: bytes, headers: Headers | None, acked: asyncio.Future[None]) -> None:
        try:
            await (await self._send(envelope, headers))
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            if not acked.done():
                acked.set_exception(exc)
        else:
            self.last_acked = time.monotonic()
            if not acked.done():
                acked.set_result(None)
        finally:
            if acked.done() and not acked.cancelled():
                acked.exception()  # mark retrieved: a request that timed out no longer waits for it


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a given-up future's outcome as seen (no "exception was never retrieved" at exit)."""
    if not future.cancelled():
        future.exception()
