"""Dead-letter index agent: ``logs.dlq`` → the ``dead_letters`` table.

So people can list dead letters by reason and time and replay a selection
without scanning the topic. Records are kept once per (partition, offset),
so a batch read again after a crash adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, cast

from faust import Stream
from faust.types import EventT, StreamT

from app.agents.persist import retry_storage
from app.app import app, database
from app.storage import deadletters
from app.topics import DLQ

dlq_topic = app.topic(DLQ, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")


def _headers(event: EventT[bytes]) -> dict[str, str]:
    raw = event.message.headers
    pairs: Any = raw.items() if isinstance(raw, dict) else (raw or ())
    return {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in pairs}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def to_row(event: EventT[bytes]) -> tuple[Any, ...]:
    """A ``dead_letters`` row from a logs.dlq record and its headers."""
    h = _headers(event)
    try:
        failed_at = datetime.fromisoformat(h["failed_at"])
    except (KeyError, ValueError):
        failed_at = datetime.fromtimestamp(event.message.timestamp, UTC)
    return (
        event.message.partition,
        event.message.offset,
        h.get("error", "unknown"),
        h.get("error_detail", ""),
        h.get("source_topic", ""),
        _int(h.get("source_partition"), -1),
        _int(h.get("source_offset"), -1),
        _int(h.get("source_timestamp"), 0),
        failed_at,
        event.message.key,
        event.value if isinstance(event.value, bytes) else b"",
    )


@app.agent(dlq_topic, name="dlq-index")
async def index_dead_letters(stream: StreamT[bytes]) -> None:
    pool = await database.wait_ready()
    batch: Sequence[EventT[bytes]]
    async for batch in cast(Stream[bytes], stream).take_events(500, within=0.5):
        rows = [to_row(event) for event in batch]
        await retry_storage(partial(deadletters.store, pool, rows))
