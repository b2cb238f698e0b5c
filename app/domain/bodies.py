"""Request bodies to events: one event, a JSON array, or NDJSON.

Pure, so every malformed body is a unit test. Errors name the item index,
the field and the rule, so a client can fix exactly the items that failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from app.errors import BadBody
from app.models import FieldError, InvalidEvent, LogEvent, parse_event

__all__ = ["BadBody", "BatchOutcome", "parse_batch", "parse_single", "stamp_tenant"]


@dataclass(slots=True)
class BatchOutcome:
    events: list[LogEvent] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody("invalid_json", f"body is not valid JSON: {exc}") from None


def stamp_tenant(event: LogEvent, tenant: str | None) -> LogEvent:
    """``event`` as ``tenant``'s: its organization set, or refused if it claims another one."""
    if tenant is None or event.organization_id == tenant:
        return event
    if event.organization_id is not None:
        message = f"must be absent or {tenant!r}, the organization of the API key"
        raise InvalidEvent([FieldError("organization_id", "tenant", message)])
    return event.model_copy(update={"organization_id": tenant})


def parse_single(body: bytes, *, tenant: str | None = None) -> LogEvent:
    """One event, stamped with ``tenant``; raises :class:`BadBody` or :class:`~app.models.InvalidEvent`."""
    return stamp_tenant(parse_event(_decode(body)), tenant)


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


def parse_batch(body: bytes, *, ndjson: bool, max_items: int, tenant: str | None = None) -> BatchOutcome:
    """Every valid event of a batch body (stamped with ``tenant``), and an error per invalid item."""
    items = _items(body, ndjson)
    if len(items) > max_items:
        raise BadBody("too_many_items", f"a batch holds at most {max_items} events, this one {len(items)}")
    outcome = BatchOutcome()
    for index, item in enumerate(items):
        if isinstance(item, _NotJson):
            outcome.errors.append({"index": index, "field": "event", "rule": "json", "message": item.message})
            continue
        try:
            outcome.events.append(stamp_tenant(parse_event(item), tenant))
        except InvalidEvent as exc:
            outcome.errors.extend({"index": index, **e.as_dict()} for e in exc.errors)
    return outcome
