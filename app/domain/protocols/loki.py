"""Loki's push API (``POST /loki/api/v1/push``), JSON or snappy protobuf, as logpipe events.

Mapping, one item per entry in order (stream, entry):

- the line is the message;
- ``source`` is the first of the labels :data:`SOURCE_LABELS` with a value;
  a stream with none has each of its entries refused (``stream``/``source``);
- the level is the first of :data:`LEVEL_LABELS` that names a level, in the
  stream labels, then in the entry's structured metadata; one that names
  none (``"information"``) stays in the metadata, and the level is INFO;
- the timestamp is the entry's, nanoseconds since the epoch; a protobuf
  entry without one was received now;
- the other labels and the structured metadata are the metadata. On a name
  in both, the label wins (it identifies the stream) and the structured
  value is kept as ``<name>_extracted``, as Loki's own queries name it;
  that holds for the label the level was taken from too.
  A label with an empty value is no label, as in Prometheus.

What is wrong with the body's structure (arrays, objects, label sets) makes
the whole body :class:`BadBody`; what is wrong with one entry's values (its
timestamp, its line) refuses that entry. The tenant (``X-Scope-OrgID``) is
the ingest service's business, not the decoder's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import orjson
from google.protobuf import message

from app.domain.protocols import Item, Refused
from app.domain.protocols.attributes import flatten
from app.domain.protocols.compression import unsnappy
from app.domain.protocols.convert import from_unix_nano, known_level, media_type
from app.domain.protocols.loki_labels import parse_labels
from app.domain.protocols.loki_pb import PushRequest
from app.errors import BadBody

SOURCE_LABELS: Final = ("source", "service_name", "service", "app", "job")
LEVEL_LABELS: Final = ("level", "severity", "detected_level")
_JSON: Final = "application/json"
_PROTOBUF: Final = "application/x-protobuf"
_NANOS: Final = re.compile(r"-?[0-9]{1,19}")
_ENTRY_SHAPE: Final = "must be [timestamp, line] or [timestamp, line, {structured metadata}]"


@dataclass(frozen=True, slots=True)
class _Entry:
    timestamp: datetime | Refused
    line: str | Refused
    structured: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Stream:
    labels: dict[str, str]
    entries: list[_Entry]


def decode_push(body: bytes, content_type: str, *, received_at: datetime, max_bytes: int) -> list[Item]:
    """The entries of a Loki push request, gzip already undone, as items.

    A protobuf body is snappy-compressed, always; ``max_bytes`` caps what it
    inflates to. Raises :class:`BadBody` (``unsupported_media_type``,
    ``invalid_json``, ``invalid_push``, ``invalid_snappy``,
    ``invalid_protobuf``, ``invalid_labels``) or :class:`~app.errors.BodyTooLarge`.
    """
    kind = media_type(content_type)
    if kind == _JSON:
        streams = _json_streams(body)
    elif kind == _PROTOBUF:
        streams = _protobuf_streams(unsnappy(body, max_bytes=max_bytes), received_at)
    else:
        raise BadBody("unsupported_media_type", f"Content-Type must be {_PROTOBUF} or {_JSON}, not {kind!r}")
    return [item for stream in streams for item in _items(stream)]


def _items(stream: _Stream) -> list[Item]:
    labels = {name: value for name, value in stream.labels.items() if value}
    source_label = next((name for name in SOURCE_LABELS if name in labels), None)
    if source_label is None:
        reason = f"the stream has none of the labels {', '.join(SOURCE_LABELS)} to name its source"
        return [Refused("stream", "source", reason) for _ in stream.entries]
    return [_item(entry, labels, source_label) for entry in stream.entries]


def _item(entry: _Entry, stream_labels: dict[str, str], source_label: str) -> Item:
    if isinstance(entry.timestamp, Refused):
        return entry.timestamp
    if isinstance(entry.line, Refused):
        return entry.line
    labels, structured = dict(stream_labels), dict(entry.structured)
    source = labels.pop(source_label)
    level = _take_level(labels) or _take_level(structured) or "INFO"
    metadata: dict[str, Any] = dict(labels)
    for name, value in structured.items():
        metadata[f"{name}_extracted" if name in stream_labels else name] = value
    return {
        "message": entry.line,
        "level": level,
        "source": source,
        "timestamp": entry.timestamp,
        "trace_id": None,
        "metadata": flatten(metadata) or None,
    }


def _take_level(pairs: dict[str, str]) -> str | None:
    """The first level the pairs name, removed from them; texts that name none stay."""
    for name in LEVEL_LABELS:
        level = known_level(pairs.get(name, ""))
        if level:
            del pairs[name]
            return level
    return None


def _timestamp(nanos: int) -> datetime | Refused:
    try:
        return from_unix_nano(nanos)
    except OverflowError:
        return Refused("timestamp", "range", "must fall within years 1 to 9999")


def _protobuf_streams(body: bytes, received_at: datetime) -> list[_Stream]:
    try:
        request = PushRequest.FromString(body)
    except message.DecodeError as exc:
        raise BadBody("invalid_protobuf", f"not a Loki PushRequest: {exc}") from None
    return [
        _Stream(parse_labels(_text(stream.labels)), [_protobuf_entry(entry, received_at) for entry in stream.entries])
        for stream in request.streams
    ]


def _protobuf_entry(entry: Any, received_at: datetime) -> _Entry:
    timestamp: datetime | Refused = received_at
    if entry.HasField("timestamp"):
        timestamp = _timestamp(entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos)
    structured = {_text(pair.name): _text(pair.value) for pair in entry.structuredMetadata}
    return _Entry(timestamp, _text(entry.line), structured)


def _text(raw: bytes) -> str:
    # Go's protobuf does not check UTF-8; one bad byte should not cost the whole body.
    return raw.decode("utf-8", "replace")


def _json_streams(body: bytes) -> list[_Stream]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody("invalid_json", f"not JSON: {exc}") from None
    streams = _expect(document, dict, "the body", "an object").get("streams", [])
    return [_json_stream(stream, f"streams[{i}]") for i, stream in enumerate(_expect(streams, list, "streams"))]


def _json_stream(stream: Any, path: str) -> _Stream:
    stream = _expect(stream, dict, path, "an object")
    if "values" not in stream:
        raise BadBody("invalid_push", f'{path} has no "values" (the older "entries" form is not taken)')
    values = _expect(stream["values"], list, f"{path}.values")
    labels = _string_map(stream.get("stream", {}), f"{path}.stream")
    return _Stream(labels, [_json_entry(value, f"{path}.values[{j}]") for j, value in enumerate(values)])


def _json_entry(value: Any, path: str) -> _Entry:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise BadBody("invalid_push", f"{path} {_ENTRY_SHAPE}")
    structured = _string_map(value[2], f"{path}[2]") if len(value) == 3 else {}
    line = value[1] if isinstance(value[1], str) else Refused("message", "type", "the line must be a string")
    return _Entry(_json_timestamp(value[0]), line, structured)


def _json_timestamp(value: Any) -> datetime | Refused:
    if isinstance(value, str) and _NANOS.fullmatch(value):
        return _timestamp(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _timestamp(value)
    return Refused("timestamp", "ns_epoch", "must be nanoseconds since the epoch, as a string of digits")


def _string_map(value: Any, path: str) -> dict[str, str]:
    mapping: dict[str, Any] = _expect(value, dict, path, "an object")
    if not all(isinstance(item, str) for item in mapping.values()):
        raise BadBody("invalid_push", f"{path} must map names to strings")
    return mapping


def _expect(value: Any, kind: type, path: str, name: str = "an array") -> Any:
    if not isinstance(value, kind):
        raise BadBody("invalid_push", f"{path} must be {name}")
    return value
