"""Log queries: request parameters → a normalised :class:`LogQuery`, and rows → answers.

Pure, so parameter handling and cursors are unit-tested without a server
(the SQL of a :class:`LogQuery` is :mod:`app.domain.query_sql`). Both spellings are taken:
ours (``level``, ``organization_id``, ``start``, ``end``, ``q``, ``limit``,
``cursor``, ``field.KEY``) and the Java system's (``logLevel``, ``organizationId``,
``startTime``, ``endTime``, ``keyword``/``query``, ``page``/``size``).

Results are newest first, ``(timestamp, id)`` descending, paged by an opaque
keyset cursor that stays stable while rows are inserted, also with ``q``:
that is what people reading logs expect, and it spares PostgreSQL scoring
every match. ``sort=relevance`` ranks by full-text relevance first, at that
price. ``page`` switches to the Java system's offset paging
(with a bounded total count).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import orjson

from app.domain import cursors
from app.domain.field_filters import FieldFilter, parse_field_filters
from app.errors import QueryError
from app.models import LEVELS, normalise_level

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
COUNT_CAP: Final = 100_000  # the deepest offset page; the cursor goes further
_OFFSET_AS_SPACE: Final = re.compile(r" (\d{2}:?\d{2})$")
SORTS: Final = ("newest", "relevance")


class Params(Protocol):
    """A multi-dict of query parameters (aiohttp's ``request.query`` and ``multidict.MultiDict`` are ones):
    values by name, and every name-value pair (``field.KEY`` parameters are found among them)."""

    def getall(self, key: str, default: list[str] = ...) -> list[str]: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


@dataclass(frozen=True, slots=True)
class Cursor:
    timestamp: str
    id: str
    rank: float | None = None


@dataclass(frozen=True, slots=True)
class LogQuery:
    levels: tuple[str, ...] = ()
    source: str | None = None
    organization_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: Cursor | None = None
    page: int | None = None
    sort: str = "newest"
    fields: tuple[FieldFilter, ...] = ()  # field.KEY= filters on metadata, all of them must match

    @property
    def ranked(self) -> bool:
        return self.text is not None and self.sort == "relevance"

    @property
    def offset(self) -> int:
        """Rows before this page: offset pages only; a keyset cursor skips none."""
        return self.page * self.limit if self.page is not None else 0

    def cache_key(self, scope: str) -> str:
        """A key naming this exact query (and who may see it) for the response cache."""
        parts = asdict(self)
        parts["start"] = self.start.isoformat() if self.start else None
        parts["end"] = self.end.isoformat() if self.end else None
        digest = hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
        return f"logpipe:query:{scope}:{digest}"


def _first(params: Params, *names: str) -> tuple[str, str] | None:
    for name in names:
        values = params.getall(name, [])
        if values and values[-1] != "":
            return name, no_nul(name, values[-1])
    return None


def no_nul(name: str, value: str) -> str:
    """``value``, unless it holds a NUL character, which no PostgreSQL text can."""
    if "\x00" in value:
        raise QueryError(name, "no_nul", "must not contain NUL characters")
    return value


def _int(params: Params, names: tuple[str, ...], low: int, high: int | None) -> int | None:
    found = _first(params, *names)
    if found is None:
        return None
    name, raw = found
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(name, "integer", f"must be an integer, got {raw[:40]!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise QueryError(name, "range", f"must be {bound}")
    return value


def parse_time(name: str, raw: str) -> datetime:
    """ISO 8601 date or date-time; no zone means UTC."""
    # An unescaped "+" of a zone offset arrives as a space in a query string.
    text = _OFFSET_AS_SPACE.sub(r"+\1", raw.strip())
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(name, "iso8601", f"must be an ISO 8601 date-time, got {raw[:40]!r}") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise QueryError(name, "range", "must fall within years 1 to 9999 in UTC") from None


def encode_cursor(cursor: Cursor) -> str:
    return cursors.encode([cursor.timestamp, cursor.id, cursor.rank])


def decode_cursor(raw: str) -> Cursor:
    ts, event_id, rank = cursors.decode(raw, 3)
    try:
        parse_time("cursor", str(ts))
        return Cursor(str(ts), str(event_id), None if rank is None else float(rank))
    except (QueryError, TypeError, ValueError):
        raise QueryError("cursor", "cursor", "is not a cursor this API returned") from None


def parse_query(params: Params, *, default_limit: int = DEFAULT_LIMIT, default_page: int | None = None) -> LogQuery:
    """Normalise request parameters; raises :class:`QueryError`.

    ``default_page`` set means offset paging unless a cursor is given.
    """
    start_at, end_at = _time_range(params)
    text = _first(params, "q", "keyword", "query")
    source = _first(params, "source")
    org = _first(params, "organization_id", "organizationId")
    limit, page, cursor = _paging(params, default_limit, default_page)
    sort = _first(params, "sort")
    if sort is not None and sort[1] not in SORTS:
        raise QueryError("sort", "one_of", f"must be one of {', '.join(SORTS)}")
    return LogQuery(
        levels=_levels(params),
        source=source[1] if source else None,
        organization_id=org[1] if org else None,
        start=start_at,
        end=end_at,
        text=text[1].strip() if text and text[1].strip() else None,
        limit=limit,
        cursor=cursor,
        page=page,
        sort=sort[1] if sort else "newest",
        fields=parse_field_filters(params.items()),
    )


def _levels(params: Params) -> tuple[str, ...]:
    levels: set[str] = set()
    for name in ("level", "logLevel"):
        for raw in params.getall(name, []):
            for part in filter(None, (p.strip() for p in raw.split(","))):
                try:
                    levels.add(normalise_level(part))
                except ValueError:
                    raise QueryError(name, "one_of", f"must be one of {', '.join(LEVELS)}") from None
    return tuple(sorted(levels))


def _time_range(params: Params) -> tuple[datetime | None, datetime | None]:
    start = _first(params, "start", "startTime")
    end = _first(params, "end", "endTime")
    start_at = parse_time(*start) if start else None
    end_at = parse_time(*end) if end else None
    if start_at and end_at and start_at > end_at:
        raise QueryError(start[0] if start else "start", "order", "must not be after the end")
    return start_at, end_at


def _paging(params: Params, default_limit: int, default_page: int | None) -> tuple[int, int | None, Cursor | None]:
    """The page size, and an offset page or a keyset cursor (never both)."""
    raw_cursor = _first(params, "cursor")
    page = _int(params, ("page",), 0, None)
    if page is not None and raw_cursor is not None:
        raise QueryError("cursor", "exclusive", "cannot be combined with page")
    if page is None and raw_cursor is None:
        page = default_page
    limit = _int(params, ("limit", "size"), 1, MAX_LIMIT) or default_limit
    if page is not None and page * limit > COUNT_CAP:
        # Deeper offsets would make PostgreSQL walk and discard that many rows; the cursor does not.
        raise QueryError("page", "range", f"page * size must stay within {COUNT_CAP:,} rows; go deeper with cursor")
    return limit, page, decode_cursor(raw_cursor[1]) if raw_cursor else None


def row_to_event(row: Sequence[Any]) -> dict[str, Any]:
    """A result row as the API shows an event (snake_case)."""
    return {
        "id": str(row[0]),
        "timestamp": row[1].astimezone(UTC).isoformat(),
        "level": row[2],
        "message": row[3],
        "source": row[4],
        "organization_id": row[5],
        "trace_id": row[6],
        "metadata": row[7],
    }


def java_event(event: dict[str, Any]) -> dict[str, Any]:
    """The Java system's field names for an event (kept beside ours for its clients)."""
    return {
        **event,
        "organizationId": event["organization_id"],
        "traceId": event["trace_id"],
        "logLevel": event["level"],
    }


def next_cursor(query: LogQuery, rows: Sequence[Sequence[Any]]) -> str | None:
    """The cursor after the last row shown, or ``None`` when no more rows follow."""
    if len(rows) <= query.limit or query.page is not None:
        return None
    last = rows[query.limit - 1]
    rank = float(last[8]) if query.ranked else None
    return encode_cursor(Cursor(last[1].astimezone(UTC).isoformat(), str(last[0]), rank))
