"""Dead-letter index agent: ``logs.dlq`` → the ``dead_letters`` table.

So people can list dead letters by reason and time and replay a selection
without scanning the topic. Records are kept once per (partition, offset),
so a batch read again after a crash adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from faust import Stream
from faust.types import EventT, StreamT

from app.domain.topic_layout import DLQ
from app.storage import letter_rows
from app.storage.edge import retry_storage

if TYPE_CHECKING:
    from app.app import LogpipeApp


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


def register(app: LogpipeApp) -> None:
    """Declare the dead-letter index agent on ``app``."""
    topic = app.topic(DLQ, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")

    @app.agent(topic, name="dlq-index")
    async def index_dead_letters(stream: StreamT[bytes]) -> None:
        await index(stream, app)


async def index(stream: StreamT[bytes], app: LogpipeApp) -> None:
    """Keep every dead letter of ``stream`` in the ``dead_letters`` table, 500 records at a time."""
    pool = await app.services.database.wait_ready()
    batch: Sequence[EventT[bytes]]
    async for batch in cast(Stream[bytes], stream).take_events(500, within=0.5):
        rows = [to_row(event) for event in batch]
        await retry_storage(partial(letter_rows.store, pool, rows), max_delay=app.settings.pg_retry_max_delay)
