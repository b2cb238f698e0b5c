"""What every way in does to an event beyond the model's rules: shippers' shapes, tenancy, a trustworthy time,
and the fields of a structured message.

HTTP, ``logs.raw``, dead-letter replay and every shipper protocol call
:func:`admit`, so an event is held to the same rules whichever way it came.
Raises :class:`~app.errors.InvalidEvent` naming the field and the rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from app.domain.fields import extract_fields, merge_fields
from app.domain.protocols import Item, Refused
from app.domain.protocols.shapes import from_shipper
from app.errors import FieldError, InvalidEvent
from app.models import LogEvent, parse_event


@dataclass(frozen=True, slots=True)
class EventRules:
    """``max_future``: how far ahead of receipt a timestamp may be (``INGEST_MAX_FUTURE``); ``max_age``: how far
    behind (``RETENTION_DAYS``: an older event would be deleted at once); ``extract_fields``: fields of a JSON
    or logfmt message into ``metadata.fields`` (``EXTRACT_FIELDS``)."""

    max_future: timedelta = timedelta(minutes=10)
    max_age: timedelta = timedelta(days=7)
    extract_fields: bool = True


DEFAULT_RULES: Final = EventRules()


def admit(
    data: Any,
    rules: EventRules,
    *,
    received_at: datetime,
    tenant: str | None = None,
    default_id: uuid.UUID | None = None,
    shipper_shapes: bool = True,
) -> LogEvent:
    """One decoded item as an event of ``tenant``, or :class:`InvalidEvent`.

    ``shipper_shapes`` maps shippers' field names first (logpipe's own names
    win when sent); protocol decoders that already speak logpipe's fields
    turn it off. An absent timestamp is ``received_at``.
    """
    if shipper_shapes and isinstance(data, dict):
        data = from_shipper(data, native=True)
    event = stamp_tenant(parse_event(data, default_id=default_id, received_at=received_at), tenant)
    check_time(event.timestamp, received_at, rules)
    if rules.extract_fields and (fields := extract_fields(event.message)):
        event = event.model_copy(update={"metadata": merge_fields(event.metadata, fields)})
    return event


@dataclass(slots=True)
class Admitted:
    """A decoded request's items sorted: the events admitted and why each other item was not, by item index."""

    events: list[tuple[int, LogEvent]] = field(default_factory=list)
    refused: dict[int, list[FieldError]] = field(default_factory=dict)

    def wire(self) -> list[dict[str, Any]]:
        return [event.to_wire() for _, event in self.events]


def admit_items(
    items: Sequence[Item], rules: EventRules, *, received_at: datetime, tenant: str | None = None
) -> Admitted:
    """Every item a protocol decoder gave, admitted or refused with its field and rule."""
    admitted = Admitted()
    for index, item in enumerate(items):
        if isinstance(item, Refused):
            admitted.refused[index] = [FieldError(item.field, item.rule, item.message)]
            continue
        try:
            admitted.events.append(
                (index, admit(item, rules, received_at=received_at, tenant=tenant, shipper_shapes=False))
            )
        except InvalidEvent as exc:
            admitted.refused[index] = exc.errors
    return admitted


def stamp_tenant(event: LogEvent, tenant: str | None) -> LogEvent:
    """``event`` as ``tenant``'s: its organization set, or refused if it claims another one."""
    if tenant is None or event.organization_id == tenant:
        return event
    if event.organization_id is not None:
        message = f"must be absent or {tenant!r}, the organization of the API key"
        raise InvalidEvent([FieldError("organization_id", "tenant", message)])
    return event.model_copy(update={"organization_id": tenant})


def check_time(timestamp: datetime, received_at: datetime, rules: EventRules) -> None:
    """Refuse a time no log store should sort by: far in the future (it would top every newest-first query
    for years), or older than retention (it would be deleted at once, or never from the default partition)."""
    if timestamp > received_at + rules.max_future:
        ahead = _span(rules.max_future)
        message = f"must not be more than {ahead} ahead of receipt ({received_at.isoformat(timespec='seconds')})"
        raise InvalidEvent([FieldError("timestamp", "range", message)])
    if timestamp < received_at - rules.max_age:
        message = f"is older than the retention window of {_span(rules.max_age)}: it would be deleted at once"
        raise InvalidEvent([FieldError("timestamp", "too_old", message)])


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} s"
