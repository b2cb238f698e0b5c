"""OTLP/HTTP logs (``POST /v1/logs``), protobuf or JSON, as logpipe events.

Mapping, one item per log record in order (resource, scope, record):

- ``body``: a string is the message; any other value is the message as
  compact JSON; an absent or empty body is refused (``body``/``required``).
- ``severityNumber`` 1-24 gives the level by the OTel ranges; otherwise
  ``severityText`` read as a level word; neither gives INFO. A text that is
  not the level chosen (``"Information"``) is kept as metadata ``severity_text``.
- resource ``service.name`` is the source; absent, ``unknown_service``.
- ``timeUnixNano``, else ``observedTimeUnixNano``, else the time of receipt.
- ``traceId`` is ``trace_id`` in lowercase hex (all zero is none);
  ``spanId`` is metadata ``span_id``.
- attributes of resource, scope and record, record over scope over
  resource, flattened to dotted keys (:mod:`.attributes`), are the
  metadata. ``service.name`` stays in it: metadata is the record's
  attributes as sent, and ``source`` may be the default rather than them.
  The decoder's own keys (``otel.scope.name``, ``otel.scope.version``,
  ``span_id``, ``severity_text``) are added after the key cap and win over
  attributes of the same name.

OTLP/JSON differs from protobuf's own JSON mapping in one way that matters
here: trace and span ids are hex, not base64, so they are converted first.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

import orjson
from google.protobuf import json_format, message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from app.domain.protocols import Item, Refused
from app.domain.protocols.attributes import any_value, flatten, key_values
from app.domain.protocols.convert import from_unix_nano, known_level, media_type
from app.errors import BadBody

DEFAULT_SOURCE: Final = "unknown_service"
_PROTOBUF: Final = "application/x-protobuf"
_JSON: Final = "application/json"
_LEVELS_BY_NUMBER: Final = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")  # four numbers each
_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_ID_FIELDS: Final = ("traceId", "trace_id", "spanId", "span_id")
_EMPTY: Final[tuple[object, ...]] = (None, "", [], {})


def decode_logs(body: bytes, content_type: str, *, received_at: datetime) -> list[Item]:
    """The log records of an OTLP ``ExportLogsServiceRequest``, already inflated, as items.

    Raises :class:`BadBody`: ``unsupported_media_type``, ``invalid_protobuf``
    or ``invalid_json`` with what the parser said.
    """
    request = _parse(body, media_type(content_type))
    items: list[Item] = []
    for resource_logs in request.resource_logs:
        resource = key_values(resource_logs.resource.attributes)
        service = resource.get("service.name")
        source = service if isinstance(service, str) and service else DEFAULT_SOURCE
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope
            attributes = resource | key_values(scope.attributes)
            own = {"otel.scope.name": scope.name, "otel.scope.version": scope.version}
            for record in scope_logs.log_records:
                items.append(_item(record, source, attributes, own, received_at))
    return items


def _parse(body: bytes, kind: str) -> Any:
    if kind == _PROTOBUF:
        try:
            return ExportLogsServiceRequest.FromString(body)
        except message.DecodeError as exc:
            raise BadBody("invalid_protobuf", f"not an ExportLogsServiceRequest: {exc}") from None
    if kind == _JSON:
        return _parse_json(body)
    raise BadBody("unsupported_media_type", f"Content-Type must be {_PROTOBUF} or {_JSON}, not {kind!r}")


def _parse_json(body: bytes) -> Any:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody("invalid_json", f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadBody("invalid_json", "must be a JSON object, an ExportLogsServiceRequest")
    for record in _json_records(document):
        for name in _ID_FIELDS:
            if isinstance(record.get(name), str):
                record[name] = _hex_to_base64(name, record[name])
    request = ExportLogsServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise BadBody("invalid_json", f"not an ExportLogsServiceRequest: {exc}") from None
    return request


def _json_records(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every log record object of an OTLP/JSON body; what has the wrong shape is left to the parser."""
    for resource_logs in _json_list(document, "resourceLogs", "resource_logs"):
        for scope_logs in _json_list(resource_logs, "scopeLogs", "scope_logs"):
            for record in _json_list(scope_logs, "logRecords", "log_records"):
                if isinstance(record, dict):
                    yield record


def _json_list(parent: Any, *names: str) -> list[Any]:
    # protobuf's JSON parser takes the proto field name as well as the camelCase one.
    if isinstance(parent, dict):
        for name in names:
            if isinstance(parent.get(name), list):
                return list(parent[name])
    return []


def _hex_to_base64(name: str, value: str) -> str:
    if not _HEX.fullmatch(value):
        raise BadBody("invalid_json", f"{name} must be hex digits, as OTLP/JSON encodes ids, not {value[:40]!r}")
    return base64.b64encode(bytes.fromhex(value)).decode("ascii")


def _item(record: Any, source: str, inherited: dict[str, Any], own: dict[str, str], received_at: datetime) -> Item:
    message_text = _message(record.body) if record.HasField("body") else None
    if message_text is None:
        return Refused("body", "required", "a log record needs a body, and this one has none or an empty one")
    level, severity_text = _level(record.severity_number, record.severity_text)
    metadata = flatten(inherited | key_values(record.attributes))
    extra = own | {"span_id": _hex_id(record.span_id), "severity_text": severity_text}
    metadata.update((key, value) for key, value in extra.items() if value)
    return {
        "message": message_text,
        "level": level,
        "source": source,
        "timestamp": _timestamp(record, received_at),
        "trace_id": _hex_id(record.trace_id),
        "metadata": metadata or None,
    }


def _message(body: Any) -> str | None:
    value = any_value(body)
    if value in _EMPTY:
        return None
    if body.WhichOneof("value") == "string_value":
        return str(value)
    return orjson.dumps(value).decode()


def _level(number: int, text: str) -> tuple[str, str | None]:
    """The level, and the severity text to keep when it says more than the level does."""
    named = known_level(text) if text else None
    if 1 <= number <= 24:
        level = _LEVELS_BY_NUMBER[(number - 1) // 4]
    else:
        level = named or "INFO"
    return level, (text if text and named != level else None)


def _timestamp(record: Any, received_at: datetime) -> datetime:
    # Both clocks are uint64 nanoseconds, so they always fall within datetime's range.
    nanos = record.time_unix_nano or record.observed_time_unix_nano
    return from_unix_nano(nanos) if nanos else received_at


def _hex_id(raw: bytes) -> str | None:
    return raw.hex() if raw.strip(b"\x00") else None
