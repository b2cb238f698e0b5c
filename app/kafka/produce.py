"""Producing records a stage must not lose: every acknowledgement awaited, and the whole set tried again while
the broker refuses it (the stage's partition waits; nothing it holds is dropped)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError

from app.domain.backoff import retrying

log = logging.getLogger(__name__)

#: (topic, key, value, partition, headers), as Faust's ``producer.send`` takes them (with no timestamp).
Record = tuple[str, bytes | None, bytes, int | None, list[tuple[str, bytes]] | None]
Send = Callable[[str, bytes | None, bytes, int | None, Any, Any], Awaitable[Awaitable[Any]]]


async def produce_all(send: Send, records: Sequence[Record], *, max_delay: float) -> None:
    """Produce ``records`` and wait for every acknowledgement; while the broker is away, produce them again.

    A retry may write a record twice: dead letters are at-least-once, a
    count delta delivered twice is folded in once, and an envelope's events
    are stored once by their ids.
    """

    async def once() -> None:
        futures = [await send(topic, key, value, part, None, headers) for topic, key, value, part, headers in records]
        await asyncio.gather(*futures)

    def on_retry(exc: Exception, delay: float) -> None:
        log.warning("producing %d records failed (%s); retrying in %.1fs", len(records), exc, delay)

    await retrying(
        once, retry_on=(KafkaError, ProducerSendError), max_delay=max_delay, on_retry=on_retry, sleep=asyncio.sleep
    )
