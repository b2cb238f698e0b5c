"""Syslog over TCP and UDP: RFC 5424 and RFC 3164 messages from rsyslog, syslog-ng, network devices and Python's
``SysLogHandler``, into the pipeline through the same intake as every HTTP protocol.

TCP streams are cut into frames by octet counting or by newline
(:mod:`app.domain.protocols.syslog_framing`) and parsed
(:mod:`app.domain.protocols.syslog`). While ingest says "not now"
(backpressure, rate limits, broker away) a connection stops being read and
its frames are offered again, so TCP's own flow control slows the sender and
nothing it sent is dropped. UDP cannot push back: its datagrams wait in a
bounded queue, and what does not fit is counted
(``logpipe_syslog_dropped_total``), never silently lost. A message that is
no valid event goes to ``logs.dlq`` with the reason, as a bad record of
``logs.raw`` does. Every worker listens (``SO_REUSEPORT`` shares the port
among the workers of one host).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from mode import Service

from app.domain.admission import EventRules, admit_items
from app.domain.deadletters import DeadLetter, Reason
from app.domain.protocols import Item, Refused
from app.domain.protocols.syslog import parse_message
from app.domain.protocols.syslog_framing import Framer
from app.domain.topic_layout import DLQ
from app.errors import FieldError, TryLater
from app.kafka.intake import Intake
from app.kafka.produce import Send, produce_all
from app.ops.metrics import EVENTS_DEAD_LETTERED, EVENTS_REJECTED, SYSLOG_DROPPED
from app.settings import Settings, event_rules

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)
PROTOCOL: Final = "syslog"
READ_BYTES: Final = 65536
UDP_QUEUE: Final = 10_000  # datagrams waiting while ingest says "not now"
UDP_BATCH: Final = 500


class SyslogListener(Service):
    """The TCP and UDP listeners of one worker (see the module docstring)."""

    def __init__(self, settings: Settings, intake: Intake, send: Send, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._intake = intake
        self._send = send
        self._rules: EventRules = event_rules(settings)
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._datagrams: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(UDP_QUEUE)

    async def on_start(self) -> None:
        settings, loop = self._settings, asyncio.get_running_loop()
        host = settings.syslog_bind
        self._server = await asyncio.start_server(self._connection, host, settings.syslog_tcp_port, reuse_port=True)
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._datagrams), local_addr=(host, settings.syslog_udp_port), reuse_port=True
        )
        log.info("syslog on %s: TCP %d, UDP %d", host, settings.syslog_tcp_port, settings.syslog_udp_port)

    async def on_stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer.get_extra_info("peername"))
        framer = Framer(self._settings.syslog_max_message_bytes)
        try:
            while chunk := await reader.read(READ_BYTES):
                await self.take(framer.feed(chunk), f"tcp:{peer}")
            await self.take(framer.close(), f"tcp:{peer}")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.debug("syslog connection from %s ended: %s", peer, exc)
        finally:
            writer.close()

    @Service.task
    async def _drain_datagrams(self) -> None:
        while not self.should_stop:
            frames = [await self._datagrams.get()]
            while len(frames) < UDP_BATCH and not self._datagrams.empty():
                frames.append(self._datagrams.get_nowait())
            for peer in {p for _, p in frames}:
                await self.take([f for f, p in frames if p == peer], f"udp:{peer}")

    async def take(self, frames: list[bytes | Refused], origin: str) -> None:
        """Parse, admit and publish a run of frames; wait out every "not now" (the sender is held meanwhile)."""
        if not frames:
            return
        received_at = datetime.now(UTC)
        items: list[Item] = [f if isinstance(f, Refused) else parse_message(f, received_at=received_at) for f in frames]
        admitted = admit_items(items, self._rules, received_at=received_at, tenant=self._settings.syslog_organization)
        if admitted.refused:
            await self._dead_letter(frames, admitted.refused, origin)
        while admitted.events:
            try:
                self._intake.admit(PROTOCOL)
                await self._intake.charge("syslog:" + origin.partition(":")[2], "batch", len(admitted.events))
                await self._intake.publish(admitted.wire(), protocol=PROTOCOL)
                return
            except TryLater as exc:
                log.debug("syslog from %s held: %s", origin, exc)
                await asyncio.sleep(exc.retry_after)

    async def _dead_letter(
        self, frames: list[bytes | Refused], refused: dict[int, list[FieldError]], origin: str
    ) -> None:
        letters = [_letter(frames[index], errors, origin) for index, errors in sorted(refused.items())]
        records = [(DLQ, None, letter.value, None, letter.headers()) for letter in letters]
        await produce_all(self._send, records, max_delay=self._settings.broker_retry_max_delay)
        for letter, errors in zip(letters, (refused[i] for i in sorted(refused)), strict=True):
            EVENTS_DEAD_LETTERED.labels(letter.error.value).inc()
            for error in errors:
                EVENTS_REJECTED.labels(PROTOCOL, error.rule).inc()


def _letter(frame: bytes | Refused, errors: list[FieldError], origin: str) -> DeadLetter:
    detail = "; ".join(str(e) for e in errors)
    too_large = any(e.rule in ("max_bytes", "too_large", "max_length") for e in errors)
    value = frame if isinstance(frame, bytes) else b""
    reason = Reason.TOO_LARGE if too_large else Reason.INVALID
    return DeadLetter(value, None, reason, detail, f"syslog/{origin.partition(':')[0]}", -1, -1)


def _peer(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else "unknown"


class _Datagrams(asyncio.DatagramProtocol):
    """Queues each datagram (one message, RFC 5426), or counts it dropped when the queue is full."""

    def __init__(self, queue: asyncio.Queue[tuple[bytes, str]]) -> None:
        self._queue = queue

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self._queue.put_nowait((data.rstrip(b"\r\n\x00"), _peer(addr)))
        except asyncio.QueueFull:
            SYSLOG_DROPPED.labels("queue_full").inc()


def syslog_enabled(settings: Settings) -> bool:
    """On when set so; unset, on only with auth off (a syslog sender presents no API key)."""
    return settings.syslog_enabled if settings.syslog_enabled is not None else not settings.auth_enabled


def register(app: LogpipeApp) -> None:
    """Listen for syslog with ``app``'s worker, when enabled."""
    if syslog_enabled(app.settings):
        send = lambda *record: app.producer.send(*record)  # noqa: E731 - the producer exists once the app runs
        app.add_dependency(SyslogListener(app.settings, app.services.intake, send))
