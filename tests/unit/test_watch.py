"""The broker watch tells a broker that is gone from a worker too busy to hear its answer in time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from app.domain.backpressure import LagGate
from app.kafka import watch as watch_module
from app.kafka.publisher import EnvelopePublisher
from app.kafka.watch import PipelineWatch, means_unreachable


@pytest.mark.parametrize(
    ("error", "acked_recently", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True, True),  # refused: gone, whatever was acknowledged before
        (KafkaConnectionError("no connection"), True, True),
        (TimeoutError(), False, True),  # silence and no acknowledgement: hung or gone
        (KafkaTimeoutError(), False, True),
        (TimeoutError(), True, False),  # late, but the broker kept acknowledging: this worker is busy
        (KafkaTimeoutError(), True, False),
    ],
)
def test_only_a_timeout_with_acknowledgements_meanwhile_is_not_an_outage(
    error: BaseException, acked_recently: bool, unreachable: bool
) -> None:
    assert means_unreachable(error, acked_recently=acked_recently) is unreachable


async def _acknowledged(envelope: bytes, headers: Any) -> Awaitable[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


async def test_the_publisher_notes_when_the_broker_last_acknowledged() -> None:
    publisher = EnvelopePublisher(_acknowledged, max_bytes=1 << 20, linger=0, ack_timeout=1)
    before = time.monotonic()
    await publisher.publish([{"i": 1}])
    assert publisher.last_acked >= before


@pytest.fixture
async def silent_broker() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: a hung broker, or one this worker cannot hear."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()


async def _watch_for(seconds: float, bootstrap: str, *, acknowledged_for: float, monkeypatch: Any) -> PipelineWatch:
    """Run a watch for ``seconds`` while writes are acknowledged during the first ``acknowledged_for``."""
    monkeypatch.setattr(watch_module, "CONNECT_TIMEOUT", 0.2)
    monkeypatch.setattr(watch_module, "ACK_GRACE", 0.3)
    publisher = EnvelopePublisher(_acknowledged, max_bytes=1 << 20, linger=0, ack_timeout=1)
    watch = PipelineWatch(bootstrap, "group", publisher, LagGate(high=100, low=10), interval=0.1)
    await watch.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < seconds and watch.broker_reachable:
            if time.monotonic() - started < acknowledged_for:
                await publisher.publish([{"event": 1}])
            await asyncio.sleep(0.02)
    finally:
        await watch.stop()
    return watch


async def test_a_silent_broker_with_no_acknowledgements_is_unreachable(silent_broker: str, monkeypatch: Any) -> None:
    watch = await _watch_for(3, silent_broker, acknowledged_for=0, monkeypatch=monkeypatch)
    assert watch.broker_reachable is False


async def test_late_probes_while_writes_are_acknowledged_keep_ingest_open(
    silent_broker: str, monkeypatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="app.kafka.watch")
    watch = await _watch_for(1.5, silent_broker, acknowledged_for=1.5, monkeypatch=monkeypatch)
    late = [r for r in caplog.records if "busy, not gone" in r.getMessage()]
    assert len(late) >= 3, f"the probes should have run out of time: {caplog.text}"
    assert watch.broker_reachable is True, "every probe timed out, but the broker acknowledged every write"


async def test_a_broker_that_stops_acknowledging_is_unreachable_a_grace_period_later(
    silent_broker: str, monkeypatch: Any
) -> None:
    started = time.monotonic()
    watch = await _watch_for(4, silent_broker, acknowledged_for=0.8, monkeypatch=monkeypatch)
    assert watch.broker_reachable is False, "no acknowledgement for longer than ACK_GRACE and every probe late"
    assert time.monotonic() - started > 0.8 + 0.3, "not while writes were still acknowledged"
