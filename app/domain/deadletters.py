"""Dead letters: what could not become a row, with the reason attached.

A dead-lettered record keeps the original bytes unchanged, so it can be
inspected and replayed; why it failed travels in Kafka headers that tools can
filter on without parsing the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class Reason(StrEnum):
    """Why a record was dead-lettered: the ``error`` header."""

    TOO_LARGE = "too_large"
    BAD_UTF8 = "bad_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    INVALID = "invalid"
    REJECTED_BY_DATABASE = "rejected_by_database"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record for ``logs.dlq``."""

    value: bytes
    key: bytes | None
    error: Reason
    detail: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp_ms: int = 0  # the source record's timestamp: replay derives the same id from it
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def headers(self) -> list[tuple[str, bytes]]:
        """The Kafka headers that say why and where from."""
        return [
            ("error", self.error.value.encode()),
            ("error_detail", self.detail.encode()[:4096]),
            ("source_topic", self.source_topic.encode()),
            ("source_partition", str(self.source_partition).encode()),
            ("source_offset", str(self.source_offset).encode()),
            ("source_timestamp", str(self.source_timestamp_ms).encode()),
            ("failed_at", self.failed_at.isoformat().encode()),
        ]
