"""Turn one raw ``logs.raw`` record into an event or a dead letter.

Pure: no I/O, so every way a producer can get a record wrong is covered by
table-driven unit tests. Whatever the bytes, the answer is one of the two —
never an exception — which is what keeps a partition from ever stalling.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app.domain.admission import DEFAULT_RULES, EventRules, admit
from app.domain.deadletters import DeadLetter, Reason
from app.errors import InvalidEvent
from app.models import kafka_record_id


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as read from a topic: where it was, and its bytes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def validate_record(
    record: RawRecord, max_bytes: int, rules: EventRules = DEFAULT_RULES
) -> dict[str, Any] | DeadLetter:
    """The wire-format event of ``record``, or why it cannot be one."""
    value = record.value or b""

    def dead(reason: Reason, detail: str) -> DeadLetter:
        return DeadLetter(
            value=value,
            key=record.key,
            error=reason,
            detail=detail,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            source_timestamp_ms=record.timestamp_ms,
        )

    if len(value) > max_bytes:
        return dead(Reason.TOO_LARGE, f"record is {len(value)} bytes; the limit is {max_bytes}")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as utf8_exc:
            return dead(Reason.BAD_UTF8, f"not valid UTF-8 at byte {utf8_exc.start}")
        return dead(Reason.NOT_JSON, f"not JSON: {exc}" if value else "empty record")
    if not isinstance(data, dict):
        return dead(Reason.NOT_OBJECT, f"JSON {type(data).__name__} where an object is required")
    try:
        event = admit(
            data,
            rules,
            default_id=kafka_record_id(record.topic, record.partition, record.offset, record.timestamp_ms, value),
            received_at=datetime.fromtimestamp(max(record.timestamp_ms, 0) / 1000, UTC),
        )
    except InvalidEvent as exc:
        return dead(Reason.INVALID, str(exc))
    return event.to_wire()
