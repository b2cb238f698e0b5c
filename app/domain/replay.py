"""Replaying dead letters: fix (JSON merge patch), keep the id, re-check, resend.

Pure, so it is unit-tested without servers. A replayed event keeps the id
and timestamp it would have had the first time (its own, or derived from
where and when its original record was read), so replaying twice stores it
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app.domain.admission import DEFAULT_RULES, EventRules, admit
from app.errors import InvalidEvent, ReplayRefused
from app.models import kafka_record_id


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """A dead letter as kept in the ``dead_letters`` table."""

    dlq_partition: int
    dlq_offset: int
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp: int
    value: bytes

    @property
    def ref(self) -> str:
        """The letter's id in the API: ``partition:offset`` on logs.dlq."""
        return f"{self.dlq_partition}:{self.dlq_offset}"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def replay_record(
    letter: StoredLetter,
    patch: dict[str, Any] | None = None,
    rules: EventRules = DEFAULT_RULES,
    *,
    now: datetime | None = None,
) -> bytes:
    """The bytes to send to ``logs.raw`` for ``letter``, checked by the rules it will meet there (as received
    ``now``); raises :class:`ReplayRefused`."""
    try:
        data: Any = orjson.loads(letter.value)
    except orjson.JSONDecodeError:
        data = None
    if patch:
        data = merge_patch(data, patch)
    if not isinstance(data, dict):
        raise ReplayRefused("not a JSON object: give a patch that makes it one")
    if data.get("id") is None:
        original = kafka_record_id(
            letter.source_topic, letter.source_partition, letter.source_offset, letter.source_timestamp, letter.value
        )
        data = {**data, "id": str(original)}
    if data.get("timestamp") is None and letter.source_timestamp > 0:
        # the time it was first received, as the first attempt would have stored it: (id, timestamp) is
        # the row's key, so a replay without it would be a new row
        received = datetime.fromtimestamp(letter.source_timestamp / 1000, UTC)
        data = {**data, "timestamp": received.isoformat()}
    try:
        admit(data, rules, received_at=now or datetime.now(UTC))
    except InvalidEvent as exc:
        raise ReplayRefused(str(exc), [e.as_dict() for e in exc.errors]) from None
    return orjson.dumps(data)


def shown_value(value: bytes) -> dict[str, str]:
    """Original bytes shown safely: as text when they are UTF-8, else base64."""
    try:
        return {"encoding": "utf-8", "value": value.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"encoding": "base64", "value": base64.b64encode(value).decode()}
