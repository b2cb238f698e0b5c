"""Structured fields of a message, extracted at ingest into ``metadata["fields"]``.

Applications log JSON objects or logfmt lines as the message; their fields
are what people filter on (``field.user.id=u1``), so ingest stores them
beside the message, which itself is kept exactly as sent.

* A JSON object (the stripped message starts with ``{``): its fields, nested
  keys flattened with dots (``{"user": {"id": "u1"}}`` → ``{"user.id": "u1"}``),
  values kept with their JSON types. Flattened keys are stored as literal
  keys, so one containment (``{"fields": {"user.id": "u1"}}``) finds them.
* A logfmt line (go-logfmt: ``key=value``, ``key="quoted \\" value"``, ``key=``
  → ``""``, a bare ``key`` → ``true``): values stay strings, never guessed
  numbers, because ``field.KEY=`` filters compare the text a person typed with
  the text that was logged; ``status=007`` stays ``"007"``.
* Anything else: ``None``. Text counts as logfmt only when the whole line
  parses as logfmt tokens and either it is one ``key=value`` pair and nothing
  else, or it holds at least two ``key=value`` pairs and they outnumber the
  bare words. So ``connection reset by peer``, ``user=bob logged in`` and
  ``GET /x status=200 ms=3`` are prose, left alone; ``level=info msg=hi`` and
  ``retries=3`` are logfmt.

A hostile line cannot blow up a row (see :class:`FieldLimits`): past the
depth a subtree is kept as its compact JSON text (cut like any value), so
nothing that was logged silently disappears from view; arrays are kept
whole when small and shallow, else dropped; past the field count or the
byte budget extraction stops. Whenever anything was dropped or cut, the
fields carry ``"_truncated": true``, so a reader knows they are not the
whole story. The first occurrence of a key wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from app.models import METADATA_MAX_BYTES

TRUNCATED: Final = "_truncated"
"""Set to ``true`` in the fields when something was dropped or cut; a message's own key of that name is skipped."""
FIELDS_KEY: Final = "fields"
_MARKER_BYTES: Final = len(b',"_truncated":true')
_DROPPED: Final = object()  # a value that cannot be kept: the collector marks the fields truncated

# One logfmt token: key, then optionally =value or ="quoted"; possessive, so a bad line fails in linear time.
_TOKEN: Final = re.compile(r'([^\s="]++)(?:=(?:"((?:[^"\\]++|\\.)*+)"|([^\s="]*+)))?+(?:\s++|\Z)', re.DOTALL)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)
_UNESCAPED: Final = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


@dataclass(frozen=True, slots=True)
class FieldLimits:
    """How much of a message becomes fields; every bound holds whatever the message.

    ``max_depth`` is the most parts a flattened key has (a dict deeper down
    is kept as JSON text); ``max_bytes`` bounds the fields serialised, the
    ``_truncated`` marker included.
    """

    max_depth: int = 5
    max_fields: int = 64
    max_key_chars: int = 128
    max_value_chars: int = 1024
    max_bytes: int = 8192

    def __post_init__(self) -> None:
        if min(self.max_depth, self.max_fields, self.max_key_chars, self.max_value_chars) < 1:
            raise ValueError("field limits must be at least 1")
        if self.max_bytes < 64:
            raise ValueError("max_bytes must be at least 64")


DEFAULT: Final = FieldLimits()


def extract_fields(message: str, limits: FieldLimits = DEFAULT) -> dict[str, Any] | None:
    """The fields of a JSON-object or logfmt message, or ``None`` when it is neither (or holds none).

    Never raises; the result serialises with orjson within ``limits.max_bytes``.
    """
    text = message.strip()
    try:
        text.encode()
    except UnicodeEncodeError:  # lone surrogates: neither orjson nor PostgreSQL could store them
        return None
    pairs = _json_pairs(text, limits) if text.startswith("{") else _logfmt_pairs(text)
    if pairs is None:
        return None
    return _collect(pairs, limits)


def merge_fields(
    metadata: dict[str, Any] | None, fields: dict[str, Any], *, max_bytes: int = METADATA_MAX_BYTES
) -> dict[str, Any]:
    """``metadata`` with ``fields`` under ``"fields"``; a new dict, the sender's own values untouched.

    A sender's own ``fields`` object wins key by key: extracted fields fill
    only the keys it lacks (Filebeat, for one, sends custom fields there,
    and the message's fields should still be found). A sender's ``fields``
    that is not an object is theirs alone and nothing is added. Extracted
    fields that would push the metadata past ``max_bytes`` serialised
    (the event's limit) are left out from the last one back, with
    ``_truncated`` set, so extraction never turns a valid event into an
    invalid one; metadata already past the limit is returned unchanged.
    """
    base = dict(metadata or {})
    own = base.get(FIELDS_KEY, {})
    if not isinstance(own, dict):
        return base
    added = {key: value for key, value in fields.items() if key not in own}
    merged = {**base, FIELDS_KEY: {**own, **added}}
    if not added or _size(merged) <= max_bytes:
        return merged if added else base
    kept = {**own, TRUNCATED: own.get(TRUNCATED, True)}
    room = max_bytes - _size({**base, FIELDS_KEY: kept})
    for key, value in added.items():
        cost = _size(key) + 1 + _size(value) + 1  # ,"key":value
        if key == TRUNCATED or cost > room:
            break
        kept[key] = value
        room -= cost
    trimmed = {**base, FIELDS_KEY: kept}
    return trimmed if _size(trimmed) <= max_bytes else base


def _size(value: Any) -> int:
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        return 1 << 62  # cannot be stored at all: larger than any budget


def _json_pairs(text: str, limits: FieldLimits) -> Iterator[tuple[str, Any]] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    return _flatten(value, "", 1, limits)


def _flatten(obj: dict[str, Any], prefix: str, depth: int, limits: FieldLimits) -> Iterator[tuple[str, Any]]:
    """Leaves of ``obj`` with dotted keys, lazily, so extraction stops walking where it stops adding."""
    for key, value in obj.items():
        path = f"{prefix}.{key}" if prefix else key
        if len(path) > limits.max_key_chars:
            yield path, _DROPPED
        elif isinstance(value, dict) and depth < limits.max_depth:
            yield from _flatten(value, path, depth + 1, limits)
        elif isinstance(value, dict):
            yield path, _json_text(value)
        else:
            yield path, value


def _json_text(value: Any) -> Any:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested past orjson's recursion limit
        return _DROPPED


def _logfmt_pairs(text: str) -> list[tuple[str, Any]] | None:
    """The pairs of a logfmt line, or ``None`` when the line is not (all) logfmt; see the module's rule."""
    if "=" not in text:  # most messages are prose: spare them the tokenising
        return None
    pairs: list[tuple[str, Any]] = []
    assigned, pos = 0, 0
    while pos < len(text):
        token = _TOKEN.match(text, pos)
        if token is None:
            return None
        key, quoted, bare = token.groups()
        if quoted is not None:
            pairs.append((key, _ESCAPE.sub(_unescape, quoted)))
        else:
            pairs.append((key, True if bare is None else bare))
        if quoted is not None or bare is not None:
            assigned += 1
        pos = token.end()
    words = len(pairs) - assigned
    if (assigned == 1 and words == 0) or (assigned >= 2 and assigned > words):
        return pairs
    return None


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return _UNESCAPED.get(char, "\\" + char)


def _collect(pairs: Iterable[tuple[str, Any]], limits: FieldLimits) -> dict[str, Any] | None:
    fields: dict[str, Any] = {}
    budget = limits.max_bytes - _MARKER_BYTES
    size, truncated = 2, False  # "{}"
    for key, raw in pairs:
        if key == TRUNCATED or key in fields:
            continue
        value, cut = _fit(raw, limits)
        if value is _DROPPED or len(key) > limits.max_key_chars or "\x00" in key:
            truncated = True
            continue
        if len(fields) >= limits.max_fields:
            truncated = True
            break
        entry = _size(key) + 1 + _size(value) + (1 if fields else 0)
        if size + entry > budget:
            truncated = True
            break
        fields[key] = value
        size += entry
        truncated |= cut
    if truncated:
        fields[TRUNCATED] = True
    return fields or None


def _fit(value: Any, limits: FieldLimits) -> tuple[Any, bool]:
    """The value as stored and whether it was cut; ``_DROPPED`` when it cannot be kept."""
    if isinstance(value, str):
        # PostgreSQL's jsonb refuses \u0000, and one bad row must not fail a batch.
        value = value.replace("\x00", "\ufffd")
        return value[: limits.max_value_chars], len(value) > limits.max_value_chars
    if isinstance(value, list):
        storable = _size(value) <= limits.max_value_chars and _storable(value, limits.max_depth)
        return (value if storable else _DROPPED), False
    return value, False


def _storable(value: Any, levels: int) -> bool:
    """Nested at most ``levels`` deep, with no NUL in any string: safe to keep as it is."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list | dict):
        if levels == 0:
            return False
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        return all(_storable(item, levels - 1) for item in items)
    return True
