"""OTLP attribute values as plain Python, and nested attributes as one flat mapping.

Event metadata is searched by dotted key (``field.http.status=500``), so
nested values are flattened into ``{"http.status": 500}``. Flattening is
capped so a body cannot turn into unbounded work or a huge row:

- below :data:`MAX_DEPTH` levels of nesting, what is left stays a nested
  value under the key reached so far;
- past :data:`MAX_KEYS` keys, the rest are dropped and :data:`TRUNCATED_KEY`
  holds how many were (a key of its own, so a reader can tell metadata
  that was cut from metadata that was not).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

MAX_DEPTH: Final = 8
MAX_KEYS: Final = 256
TRUNCATED_KEY: Final = "_truncated"


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` message as JSON-ready Python; an unset value is ``None``.

    Bytes become base64 text, since metadata is stored as JSON.
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return key_values(value.kvlist_value.values)
    return getattr(value, kind)


def key_values(pairs: Iterable[Any]) -> dict[str, Any]:
    """Repeated OTLP ``KeyValue`` messages as a dict; a repeated key keeps its last value."""
    return {pair.key: any_value(pair.value) for pair in pairs}


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``mapping`` with nested mappings joined into dotted keys, within the caps of this module.

    ``{"http": {"status": 500}}`` gives ``{"http.status": 500}``; lists stay
    lists; an empty nested mapping stays ``{}`` so its key is not lost.
    """
    flat: dict[str, Any] = {}
    dropped = 0
    for key, value in _walk(mapping, prefix, 1):
        if key in flat or len(flat) < MAX_KEYS:
            flat[key] = value
        else:
            dropped += 1
    if dropped:
        flat[TRUNCATED_KEY] = dropped
    return flat


def _walk(mapping: Mapping[str, Any], prefix: str, depth: int) -> Iterator[tuple[str, Any]]:
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value and depth < MAX_DEPTH:
            yield from _walk(value, name, depth + 1)
        else:
            yield name, value
