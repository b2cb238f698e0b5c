"""``field.KEY=value`` query filters: parameters → :class:`FieldFilter`, and their SQL on ``metadata``.

``field.KEY=a,b`` means any of ``a`` and ``b`` (``\\,`` is a literal comma,
``\\\\`` a literal backslash); the same key repeated adds values to the same
any-of, as a repeated ``level`` does; different keys must all match.
A value left empty is ignored, like every other empty query parameter.

Where a key is looked for, each a containment a GIN ``jsonb_path_ops``
index on ``metadata`` serves:

* ``metadata.fields`` under the literal dotted key, where ingest stores the
  fields of a JSON or logfmt message (:mod:`app.domain.fields`), and nested
  part by part, where a sender's own ``fields`` object keeps them;
* the sender's own metadata, top level, under the literal key
  (``{"service.version": ...}``, as OTLP attributes arrive) and nested
  (``field.http.status`` finds ``{"http": {"status": 500}}``).

Types: a query string is text and metadata may hold numbers, so a value
matches the JSON string of that text, and also, when the text is a JSON
number, ``true``, ``false`` or ``null`` literal, that JSON value:
``field.status=500`` finds ``"500"`` (logfmt) and ``500`` (JSON), and jsonb
compares numbers by value (``500.0`` too). ``field.flag=true`` finds a bare
logfmt flag. Arrays are not searched into.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from app.errors import QueryError

FIELD_PREFIX: Final = "field."
MAX_FIELD_FILTERS: Final = 10
MAX_FIELD_VALUES: Final = 20
MAX_KEY_CHARS: Final = 128
MAX_KEY_PARTS: Final = 8
_PART: Final = re.compile(r"[A-Za-z0-9_\-]+")
_JSON_LITERAL: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_ESCAPED: Final = re.compile(r"\\([\\,])|,")
_PARAM_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")
_SHOWN_KEY_CHARS: Final = 160


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """``key`` (a dotted path) equals one of ``values``, sorted and unique so equal filters compare equal."""

    key: str
    values: tuple[str, ...]


def _name(key: str) -> str:
    shown = key if len(key) <= _SHOWN_KEY_CHARS else key[:_SHOWN_KEY_CHARS] + "…"
    return FIELD_PREFIX + shown


def validate_key(key: str) -> str:
    """``key`` if it is a dotted path of ``[A-Za-z0-9_-]+`` parts within the limits; else :class:`QueryError`."""
    name = _name(key)
    if len(key) > MAX_KEY_CHARS:
        raise QueryError(name, "max_length", f"the key must be at most {MAX_KEY_CHARS} characters")
    parts = key.split(".")
    if len(parts) > MAX_KEY_PARTS:
        raise QueryError(name, "max_parts", f"the key must have at most {MAX_KEY_PARTS} dot-separated parts")
    if not all(_PART.fullmatch(part) for part in parts):
        raise QueryError(name, "key", "the key must be dot-separated parts of letters, digits, '_' and '-'")
    return key


def split_values(raw: str) -> list[str]:
    """The values of ``a,b`` with ``\\,`` a literal comma and ``\\\\`` a literal backslash; empty ones left out.

    Any other backslash is kept as it is, so a Windows path needs no escaping.
    """
    values, current, pos = [], [], 0
    for match in _ESCAPED.finditer(raw):
        current.append(raw[pos : match.start()])
        if match.group(1) is not None:
            current.append(match.group(1))
        else:
            values.append("".join(current))
            current = []
        pos = match.end()
    current.append(raw[pos:])
    values.append("".join(current))
    return [value for value in values if value]


def _no_nul(name: str, value: str) -> str:
    # As app.domain.query.no_nul, which cannot be imported here: a LogQuery holds field filters.
    if "\x00" in value:
        raise QueryError(name, "no_nul", "must not contain NUL characters")
    return value


def field_filter(key: str, values: Iterable[str]) -> FieldFilter:
    """One filter, validated: the key, at most :data:`MAX_FIELD_VALUES` values, no NUL; raises :class:`QueryError`."""
    validate_key(key)
    unique = sorted({_no_nul(_name(key), value) for value in values})
    if len(unique) > MAX_FIELD_VALUES:
        raise QueryError(_name(key), "max_values", f"must list at most {MAX_FIELD_VALUES} values")
    return FieldFilter(key, tuple(unique))


def parse_field_filters(params: Iterable[tuple[str, str]]) -> tuple[FieldFilter, ...]:
    """The ``field.KEY`` parameters among ``params`` (e.g. ``request.query.items()``), sorted by key.

    Raises :class:`QueryError` naming ``field.KEY`` and the rule.
    """
    found: dict[str, list[str]] = {}
    for name, raw in params:
        if not name.startswith(FIELD_PREFIX):
            continue
        key = validate_key(name.removeprefix(FIELD_PREFIX))
        values = split_values(raw)
        if values:
            found.setdefault(key, []).extend(values)
    filters = [field_filter(key, values) for key, values in sorted(found.items())]
    if len(filters) > MAX_FIELD_FILTERS:
        raise QueryError(_name(filters[MAX_FIELD_FILTERS].key), "max_filters", f"at most {MAX_FIELD_FILTERS} allowed")
    return tuple(filters)


def _literals(value: str) -> list[str]:
    """The JSON texts ``value`` matches: its string, and the JSON value it spells, if any.

    The literal is kept as typed (not re-encoded), so an integer past 64 bits
    keeps every digit for jsonb's arbitrary-precision numeric; it must still
    parse as a finite double, so no exponent can overflow PostgreSQL's numeric.
    """
    texts = [orjson.dumps(value).decode()]
    if _JSON_LITERAL.fullmatch(value):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            return texts
        texts.append(value)
    return texts


def _nest(keys: Sequence[str], literal: str) -> str:
    text = literal
    for key in reversed(keys):
        text = f"{{{orjson.dumps(key).decode()}:{text}}}"
    return text


@functools.lru_cache(maxsize=1024)  # a live tail tests every event against the same few filters
def documents(field: FieldFilter) -> tuple[str, ...]:
    """The jsonb documents ``metadata`` contains when it matches ``field``: any one of them will do."""
    parts = field.key.split(".")
    paths = [("fields", field.key), ("fields", *parts), (field.key,), tuple(parts)]
    unique_paths = list(dict.fromkeys(paths))
    return tuple(
        _nest(path, literal) for value in field.values for literal in _literals(value) for path in unique_paths
    )


def field_conditions(filters: Sequence[FieldFilter], param: str = "field") -> tuple[list[str], dict[str, Any]]:
    """SQL conditions (to be AND-ed) and their named arguments, ``%(field0)s`` style as :mod:`app.query_sql` writes.

    One condition per filter, ``metadata @> ANY(%(field0)s::jsonb[])``: the
    any-of of every containment (values x places x types) in one array,
    which PostgreSQL 15 runs as a single bitmap index scan of a
    ``jsonb_path_ops`` GIN index, each element a probe. ``param`` prefixes
    the argument names and must be a lowercase identifier, as it is
    written into the SQL text.
    """
    if not _PARAM_NAME.fullmatch(param):
        raise ValueError(f"param must be a lowercase identifier, got {param!r}")
    conditions: list[str] = []
    args: dict[str, Any] = {}
    for i, field in enumerate(filters):
        conditions.append(f"metadata @> ANY(%({param}{i})s::jsonb[])")
        args[f"{param}{i}"] = list(documents(field))
    return conditions, args


def metadata_matches(filters: Sequence[FieldFilter], metadata: Mapping[str, Any] | None) -> bool:
    """Whether ``metadata`` passes every filter, with the same meaning as :func:`field_conditions` in SQL.

    For matching events that are not in PostgreSQL (a live tail, a rule on
    the stream). Integers past 64 bits, which orjson reads as doubles, may compare otherwise than in SQL.
    """
    have = metadata or {}
    return all(any(_contains(have, want) for want in _parsed(field)) for field in filters)


@functools.lru_cache(maxsize=1024)
def _parsed(field: FieldFilter) -> tuple[Any, ...]:
    return tuple(orjson.loads(doc) for doc in documents(field))


def _contains(have: Any, want: Any) -> bool:
    """jsonb ``@>`` for the objects and scalars :func:`documents` builds."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _contains(have[k], v) for k, v in want.items())
    if isinstance(want, bool) or isinstance(have, bool):
        return have is want
    if isinstance(want, int | float):
        return isinstance(have, int | float) and have == want
    return type(have) is type(want) and bool(have == want)
