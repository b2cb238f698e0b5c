"""The JSON shapes shippers write, mapped to logpipe's fields by documented aliases.

Fluent Bit, Vector, Filebeat, Logstash, Docker's json-file driver and the
Python JSON loggers each name the same things differently. Every field has
a fixed list of aliases, first found wins (DESIGN.md "The event"):

=================  ==========================================================
field              aliases, in precedence order
=================  ==========================================================
``message``        ``message``, ``msg``, ``log``, ``short_message``, ``event``
``timestamp``      ``timestamp``, ``@timestamp``, ``time``, ``ts``, ``date``
``level``          ``level``, ``logLevel``, ``log_level``, ``log.level``,
                   ``severity``, ``levelname``, ``lvl``
``source``         ``source``, ``service.name``, ``service``, ``app``,
                   ``kubernetes.container_name``, ``host.name``, ``host``,
                   ``hostname``, ``logger``, ``name``
``trace_id``       ``trace_id``, ``traceId``, ``trace.id``
``organization_id`` ``organization_id``, ``organizationId``
``id``             ``id``, only when it is a UUID (a shipper's own ``id`` is
                   data, not our idempotency key)
=================  ==========================================================

A dotted alias (``log.level``) matches a literal dotted key first, then the
nested object (``{"log": {"level": ...}}``). ``event`` (structlog's message
key) and ``name`` (python-json-logger's logger name) come last and are our
additions to the DESIGN list. The Java system's camelCase names keep working.

A value is a candidate only if it is a scalar that is not ``None`` or a blank
string; objects and arrays never fill a field (an ECS ``service`` object
without ``name`` falls through to ``host.name``). A candidate of the wrong
type is kept as it is so :func:`app.models.parse_event` refuses it with a
field error: this module never raises on odd values.

With ``native=True`` (logpipe's own routes and ``logs.raw``) a field sent
under logpipe's own name (``message``, ``timestamp``, ``level``,
``source``, ``trace_id``, ``organization_id``, ``id``) is taken as sent,
whatever it holds, so a blank message or an ``id`` that is not a UUID is
refused with its field and rule rather than replaced by an alias; the
aliases fill only the fields not sent by name.

What is not used stays in ``metadata``: every unused top-level key merged
with the input's own ``metadata`` object, whose keys win on a clash. A value
used for a field is removed from what goes there (a nested object left empty
is dropped); an alias that lost to a higher-precedence one stays.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final

_ALIASES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("message", ("message", "msg", "log", "short_message", "event")),
    ("timestamp", ("timestamp", "@timestamp", "time", "ts", "date")),
    ("level", ("level", "logLevel", "log_level", "log.level", "severity", "levelname", "lvl")),
    (
        "source",
        (
            "source",
            "service.name",
            "service",
            "app",
            "kubernetes.container_name",
            "host.name",
            "host",
            "hostname",
            "logger",
            "name",
        ),
    ),
    ("trace_id", ("trace_id", "traceId", "trace.id")),
    ("organization_id", ("organization_id", "organizationId")),
)

# An epoch number's unit, told by its magnitude: 1e11 s is the year 5138, so no
# real time in seconds reaches it; the same holds a factor 1000 up for each unit.
EPOCH_SECONDS_BELOW: Final = 1e11
EPOCH_MILLIS_BELOW: Final = 1e14
EPOCH_MICROS_BELOW: Final = 1e17
_UNITS: Final = ((EPOCH_SECONDS_BELOW, 1), (EPOCH_MILLIS_BELOW, 1_000), (EPOCH_MICROS_BELOW, 1_000_000))
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


_NATIVE_KEYS: Final = frozenset(
    ("id", "timestamp", "level", "message", "source", "trace_id", "organization_id", "metadata")
)


def from_shipper(obj: dict[str, Any], *, native: bool = False) -> dict[str, Any]:
    """One shipper's JSON object as a dict of logpipe's fields, for :func:`app.models.parse_event`.

    Fields with no candidate are left out, so the model reports a missing
    ``message`` or ``source`` as ``required``. Never raises.

    An event that uses logpipe's names only (every producer that speaks
    logpipe's format, and most of ``logs.raw``) has nothing to map: it is
    taken as it is, for a fifth of what validating a record costs.
    """
    if native and obj.keys() <= _NATIVE_KEYS and isinstance(obj.get("metadata", {}), dict):
        event = dict(obj)
        if own := event.pop("metadata", None):
            event["metadata"] = {**own}
        return _finish(event)
    return _mapped(obj, native=native)


def _mapped(obj: dict[str, Any], *, native: bool) -> dict[str, Any]:
    rest = dict(obj)
    own = rest.pop("metadata") if isinstance(rest.get("metadata"), dict) else {}
    event: dict[str, Any] = {}
    for field, aliases in _ALIASES:
        if native and field in rest:
            event[field] = rest.pop(field)
            continue
        for alias in aliases:
            found, value = _take(rest, alias)
            if found:
                event[field] = value
                break
    if native and "id" in rest:
        event["id"] = rest.pop("id")
    _take_uuid_id(rest, event)
    metadata = {**rest, **own}
    if metadata:
        event["metadata"] = metadata
    return _finish(event)


def _finish(event: dict[str, Any]) -> dict[str, Any]:
    """A message without the line end it was shipped with; an epoch timestamp as ISO 8601."""
    if "message" in event and isinstance(event["message"], str):
        event["message"] = event["message"].rstrip("\r\n") or event["message"]
    if "timestamp" in event:
        event["timestamp"] = epoch_to_iso(event["timestamp"])
    return event


def epoch_to_iso(value: Any) -> Any:
    """An epoch number (or a string of digits) as ISO 8601 UTC; anything else unchanged.

    Seconds below :data:`EPOCH_SECONDS_BELOW`, milliseconds below
    :data:`EPOCH_MILLIS_BELOW`, microseconds below :data:`EPOCH_MICROS_BELOW`,
    nanoseconds above. A value that is no time at all (NaN, out of range) is
    returned as it came, for the model to refuse.
    """
    number: float | int
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and _is_decimal(value):
        number = float(value) if "." in value else int(value)
    else:
        return value
    per_second = next((unit for below, unit in _UNITS if abs(number) < below), 1_000_000_000)
    try:
        if isinstance(number, int):
            moment = _EPOCH + timedelta(microseconds=number * 1_000_000 // per_second)
        else:
            moment = datetime.fromtimestamp(number / per_second, UTC)
    except (OverflowError, OSError, ValueError):
        return value
    return moment.isoformat()


def _is_decimal(text: str) -> bool:
    whole, _, fraction = text.partition(".")
    return whole.isdigit() and whole.isascii() and (not fraction or (fraction.isdigit() and fraction.isascii()))


def _usable(value: Any) -> bool:
    if value is None or isinstance(value, dict | list):
        return False
    return not (isinstance(value, str) and not value.strip())


def _take(rest: dict[str, Any], alias: str) -> tuple[bool, Any]:
    """The alias's value if it is a candidate, removed from ``rest`` (copying any nested object it sat in)."""
    if alias in rest:
        if _usable(rest[alias]):
            return True, rest.pop(alias)
        if "." not in alias:
            return False, None
    head, dot, tail = alias.partition(".")
    parent = rest.get(head) if dot else None
    if not isinstance(parent, dict) or not _usable(parent.get(tail)):
        return False, None
    remaining = dict(parent)
    value = remaining.pop(tail)
    if remaining:
        rest[head] = remaining
    else:
        del rest[head]
    return True, value


def _take_uuid_id(rest: dict[str, Any], event: dict[str, Any]) -> None:
    value = rest.get("id")
    if not isinstance(value, str):
        return
    try:
        uuid.UUID(value)
    except ValueError:
        return
    event["id"] = rest.pop("id")
