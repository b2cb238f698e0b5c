"""Concurrent publishes share envelopes; failures and silence become BrokerUnavailable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson
import pytest

from app.errors import BrokerUnavailable, Overloaded
from app.kafka.publisher import EnvelopePublisher
from tests.support.deadlines import wait_for


class FakeBroker:
    """An injected ``send``: records envelopes, acknowledges (or fails, or never answers: then a test may
    acknowledge an envelope itself through ``pending``)."""

    def __init__(self, mode: str = "ack") -> None:
        self.envelopes: list[list[dict[str, Any]]] = []
        self.headers: list[list[tuple[str, bytes]] | None] = []
        self.pending: list[asyncio.Future[None]] = []
        self.mode = mode

    async def send(self, envelope: bytes, headers: list[tuple[str, bytes]] | None) -> Awaitable[None]:
        self.envelopes.append(orjson.loads(envelope))
        self.headers.append(headers)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.mode == "ack":
            future.set_result(None)
        elif self.mode == "fail":
            future.set_exception(RuntimeError("leader not available"))
        self.pending.append(future)
        return future


async def test_concurrent_requests_share_one_envelope() -> None:
    broker = FakeBroker()
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0.01, ack_timeout=1)
    await asyncio.gather(*(publisher.publish([{"i": i}]) for i in range(50)))
    assert len(broker.envelopes) == 1
    assert sorted(e["i"] for e in broker.envelopes[0]) == list(range(50))


async def test_without_linger_requests_of_one_loop_turn_still_share_an_envelope() -> None:
    broker = FakeBroker()
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0, ack_timeout=1)
    await asyncio.gather(*(publisher.publish([{"i": i}]) for i in range(50)))
    await publisher.publish([{"i": 50}])
    assert [len(envelope) for envelope in broker.envelopes] == [50, 1]


async def test_envelopes_stay_under_the_byte_budget() -> None:
    broker = FakeBroker()
    publisher = EnvelopePublisher(broker.send, max_bytes=1000, linger=0.01, ack_timeout=1)
    await publisher.publish([{"i": i, "pad": "x" * 80} for i in range(100)])
    assert len(broker.envelopes) > 5
    assert all(len(orjson.dumps(env)) <= 1000 for env in broker.envelopes)
    assert [e["i"] for env in broker.envelopes for e in env] == list(range(100))


@pytest.mark.parametrize(("mode", "text"), [("fail", "refused"), ("silent", "no acknowledgement")])
async def test_broker_trouble_is_reported(mode: str, text: str) -> None:
    publisher = EnvelopePublisher(FakeBroker(mode).send, max_bytes=1 << 20, linger=0.001, ack_timeout=0.2)
    with pytest.raises(BrokerUnavailable, match=text):
        await publisher.publish([{"i": 1}])


async def test_trace_contexts_travel_as_headers_of_their_envelope() -> None:
    broker = FakeBroker()
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0.01, ack_timeout=1)
    await asyncio.gather(
        publisher.publish([{"i": 1}], traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"),
        publisher.publish([{"i": 2}]),
        publisher.publish([{"i": 3}], traceparent="00-" + "c" * 32 + "-" + "d" * 16 + "-01"),
    )
    assert len(broker.envelopes) == 1
    assert [value.decode()[3:7] for _, value in broker.headers[0] or []] == ["aaaa", "cccc"]


async def test_an_unreachable_broker_refuses_at_once_and_releases_the_waiting() -> None:
    broker = FakeBroker("silent")
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0.001, ack_timeout=30)
    waiting = asyncio.ensure_future(publisher.publish([{"i": 1}]))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "no acknowledgement yet"
    publisher.broker_unreachable("connection refused")
    with pytest.raises(BrokerUnavailable, match="became unreachable"):
        await asyncio.wait_for(waiting, 1)
    with pytest.raises(BrokerUnavailable, match="is unreachable"):
        await asyncio.wait_for(publisher.publish([{"i": 2}]), 1)
    assert len(broker.envelopes) == 1, "the refused request sent nothing"

    broker.mode = "ack"
    publisher.broker_reachable()
    await asyncio.wait_for(publisher.publish([{"i": 3}]), 1)
    assert broker.envelopes[-1] == [{"i": 3}]


async def test_past_max_waiting_a_request_is_refused_at_once_and_sends_nothing() -> None:
    broker = FakeBroker("silent")
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0, ack_timeout=30, max_waiting=2)
    waiting = [asyncio.ensure_future(publisher.publish([{"i": i}])) for i in (1, 2)]
    await asyncio.sleep(0.01)
    assert publisher.waiting == 2
    with pytest.raises(Overloaded, match="2 requests already wait"):
        await asyncio.wait_for(publisher.publish([{"i": 3}]), 1)
    assert [e["i"] for env in broker.envelopes for e in env] == [1, 2], "the refused event was not sent"

    broker.mode = "ack"
    publisher.broker_unreachable("test")  # releases the silent requests
    for request in waiting:
        with pytest.raises(BrokerUnavailable):
            await request
    assert publisher.waiting == 0
    publisher.broker_reachable()
    await asyncio.wait_for(publisher.publish([{"i": 4}]), 1)
    assert publisher.waiting == 0


async def until(envelopes: int, broker: FakeBroker, timeout: float = 1.0) -> None:  # noqa: ASYNC109 - reported as what
    await wait_for(
        lambda: len(broker.envelopes) >= envelopes, timeout=timeout, what=f"{envelopes} envelopes", interval=0.002
    )


async def test_behind_an_unacknowledged_envelope_requests_gather_until_it_is_acknowledged() -> None:
    broker = FakeBroker("silent")
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0, ack_timeout=30, busy_linger=30)
    first = asyncio.ensure_future(publisher.publish([{"i": 0}]))
    await until(1, broker)  # nothing in flight: sent in the next turn, not held
    gathered = [asyncio.ensure_future(publisher.publish([{"i": i}])) for i in (1, 2)]
    await asyncio.sleep(0.01)
    later = asyncio.ensure_future(publisher.publish([{"i": 3}]))  # a later turn joins the same envelope
    await asyncio.sleep(0.01)
    assert broker.envelopes == [[{"i": 0}]], "held while the first is unacknowledged"

    broker.pending[0].set_result(None)
    await first
    await until(2, broker)
    assert broker.envelopes[1] == [{"i": 1}, {"i": 2}, {"i": 3}]
    broker.pending[1].set_result(None)
    await asyncio.gather(*gathered, later)


async def test_a_held_envelope_goes_when_its_busy_linger_ends_though_the_one_before_never_answers() -> None:
    broker = FakeBroker("silent")
    publisher = EnvelopePublisher(broker.send, max_bytes=1 << 20, linger=0, ack_timeout=30, busy_linger=0.05)
    stuck = asyncio.ensure_future(publisher.publish([{"i": 0}]))
    await until(1, broker)
    held = asyncio.ensure_future(publisher.publish([{"i": 1}]))
    await until(2, broker, timeout=0.5)
    assert broker.envelopes[1] == [{"i": 1}]
    broker.pending[1].set_result(None)
    await held
    publisher.broker_unreachable("test")  # releases the first request
    with pytest.raises(BrokerUnavailable):
        await stuck
