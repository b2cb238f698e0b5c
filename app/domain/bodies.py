"""Request bodies to events: one event, a JSON array, or NDJSON.

Pure, so every malformed body is a unit test. Errors name the item index,
the field and the rule, so a client can fix exactly the items that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from app.domain.admission import DEFAULT_RULES, EventRules, admit
from app.errors import BadBody, InvalidEvent
from app.models import LogEvent


@dataclass(slots=True)
class BatchOutcome:
    events: list[LogEvent] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody("invalid_json", f"body is not valid JSON: {exc}") from None


def parse_single(
    body: bytes, rules: EventRules = DEFAULT_RULES, *, received_at: datetime | None = None, tenant: str | None = None
) -> LogEvent:
    """One event, stamped with ``tenant``; raises :class:`BadBody` or :class:`~app.errors.InvalidEvent`."""
    return admit(_decode(body), rules, received_at=received_at or datetime.now(UTC), tenant=tenant)


def _items(body: bytes, ndjson: bool) -> list[Any]:
    if not ndjson:
        data = _decode(body)
        if not isinstance(data, list):
            raise BadBody("not_an_array", "a batch body is a JSON array of events (or NDJSON)")
        return data
    items: list[Any] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(_NotJson(f"line {number} is not valid JSON: {exc}"))
    return items


@dataclass(frozen=True, slots=True)
class _NotJson:
    message: str


def parse_batch(
    body: bytes,
    rules: EventRules = DEFAULT_RULES,
    *,
    ndjson: bool,
    max_items: int,
    received_at: datetime | None = None,
    tenant: str | None = None,
) -> BatchOutcome:
    """Every valid event of a batch body (stamped with ``tenant``), and an error per invalid item."""
    items = _items(body, ndjson)
    if len(items) > max_items:
        raise BadBody("too_many_items", f"a batch holds at most {max_items} events, this one {len(items)}")
    outcome = BatchOutcome()
    now = received_at or datetime.now(UTC)
    for index, item in enumerate(items):
        if isinstance(item, _NotJson):
            outcome.errors.append({"index": index, "field": "event", "rule": "json", "message": item.message})
            continue
        try:
            outcome.events.append(admit(item, rules, received_at=now, tenant=tenant))
        except InvalidEvent as exc:
            outcome.errors.extend({"index": index, **e.as_dict()} for e in exc.errors)
    return outcome
