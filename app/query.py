"""Log queries: request parameters → a normalised :class:`LogQuery` → SQL.

Pure, so parameter handling, cursors and the SQL of every filter
combination are unit-tested without a server. Both spellings are taken:
ours (``level``, ``organization_id``, ``start``, ``end``, ``q``, ``limit``,
``cursor``) and the Java system's (``logLevel``, ``organizationId``,
``startTime``, ``endTime``, ``keyword``/``query``, ``page``/``size``).

Results are newest first, ``(timestamp, id)`` descending, paged by an opaque
keyset cursor that stays stable while rows are inserted, also with ``q``:
that is what people reading logs expect, and it spares PostgreSQL scoring
every match. ``sort=relevance`` ranks by full-text relevance first, at that
price. ``page`` switches to the Java system's offset paging
(with a bounded total count).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import orjson

from app.models import LEVELS, normalise_level

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
COUNT_CAP: Final = 100_000  # the deepest offset page; the cursor goes further
COUNT_AHEAD: Final = 10_000  # a page's total counts this many rows past the page
TS_CONFIG: Final = "simple"  # must match the expression of logs_message_fts_idx
_FTS_DOC: Final = f"to_tsvector('{TS_CONFIG}', message)"
_FTS_QUERY: Final = f"websearch_to_tsquery('{TS_CONFIG}', %(q)s)"
_RANK: Final = f"ts_rank({_FTS_DOC}, {_FTS_QUERY})::float8"
_OFFSET_AS_SPACE: Final = re.compile(r" (\d{2}:?\d{2})$")
SORTS: Final = ("newest", "relevance")
COLUMNS: Final = 'id, "timestamp", level, message, source, organization_id, trace_id, metadata'
_ORDER: Final = '"timestamp" DESC, id DESC'
# Newest first in a form the (timestamp, id) B-tree cannot serve, so that the GIN index finds the
# matches and a top-N sort orders them: walking the B-tree runs to_tsvector on every row passed,
# all of them when the matches are rare or old (measured: 3.9 s over 1.4M rows for a word in 41).
_GIN_ORDER: Final = "(\"timestamp\" + interval '0 s') DESC, id DESC"
RECENT_SCAN: Final = 20  # rows a full-text walk first tests per row the page needs
MAX_RECENT_SCAN: Final = 50_000  # the most rows a full-text walk tests before the GIN index is asked


class Params(Protocol):
    """A multi-dict of query parameters (aiohttp's ``request.query`` is one)."""

    def getall(self, key: str, default: list[str] = ...) -> list[str]: ...


class QueryError(ValueError):
    """A parameter broke a rule; names the parameter and the rule."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.rule, self.message = field, rule, message

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


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

    @property
    def ranked(self) -> bool:
        return self.text is not None and self.sort == "relevance"

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
    return base64.urlsafe_b64encode(orjson.dumps([cursor.timestamp, cursor.id, cursor.rank])).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    try:
        ts, event_id, rank = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        parse_time("cursor", ts)
        return Cursor(str(ts), str(event_id), None if rank is None else float(rank))
    except (ValueError, TypeError, binascii.Error, QueryError):
        raise QueryError("cursor", "cursor", "is not a cursor this API returned") from None


def parse_query(params: Params, *, default_limit: int = DEFAULT_LIMIT, default_page: int | None = None) -> LogQuery:
    """Normalise request parameters; raises :class:`QueryError`.

    ``default_page`` set means offset paging unless a cursor is given.
    """
    levels: list[str] = []
    for name in ("level", "logLevel"):
        for raw in params.getall(name, []):
            for part in filter(None, (p.strip() for p in raw.split(","))):
                try:
                    levels.append(normalise_level(part))
                except ValueError:
                    raise QueryError(name, "one_of", f"must be one of {', '.join(LEVELS)}") from None
    start = _first(params, "start", "startTime")
    end = _first(params, "end", "endTime")
    start_at = parse_time(*start) if start else None
    end_at = parse_time(*end) if end else None
    if start_at and end_at and start_at > end_at:
        raise QueryError(start[0] if start else "start", "order", "must not be after the end")
    text = _first(params, "q", "keyword", "query")
    source = _first(params, "source")
    org = _first(params, "organization_id", "organizationId")
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
    sort = _first(params, "sort")
    if sort is not None and sort[1] not in SORTS:
        raise QueryError("sort", "one_of", f"must be one of {', '.join(SORTS)}")
    return LogQuery(
        levels=tuple(sorted(set(levels))),
        source=source[1] if source else None,
        organization_id=org[1] if org else None,
        start=start_at,
        end=end_at,
        text=text[1].strip() if text and text[1].strip() else None,
        limit=limit,
        cursor=decode_cursor(raw_cursor[1]) if raw_cursor else None,
        page=page,
        sort=sort[1] if sort else "newest",
    )


def _where(query: LogQuery, *, levels: bool = True, text: bool = True) -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    args: dict[str, Any] = {}
    if levels and len(query.levels) == 1:
        conditions.append("level = %(level)s")
        args["level"] = query.levels[0]
    elif levels and query.levels:
        conditions.append("level = ANY(%(levels)s)")
        args["levels"] = list(query.levels)
    if query.source is not None:
        conditions.append("source = %(source)s")
        args["source"] = query.source
    if query.organization_id is not None:
        conditions.append("organization_id = %(org)s")
        args["org"] = query.organization_id
    if query.start is not None:
        conditions.append('"timestamp" >= %(start)s')
        args["start"] = query.start
    if query.end is not None:
        conditions.append('"timestamp" <= %(end)s')
        args["end"] = query.end
    if text and query.text is not None:
        conditions.append(f"{_FTS_DOC} @@ {_FTS_QUERY}")
        args["q"] = query.text
    return conditions, args


def _after_cursor(query: LogQuery, conditions: list[str], args: dict[str, Any]) -> None:
    if query.cursor is not None:
        args["c_ts"], args["c_id"] = query.cursor.timestamp, query.cursor.id
        conditions.append('("timestamp", id) < (%(c_ts)s::timestamptz, %(c_id)s::uuid)')


def _branch_levels(query: LogQuery) -> tuple[str, ...]:
    """The levels to walk one index branch each; none when one walk returns the rows in order."""
    if len(query.levels) > 1:
        return query.levels  # level = ANY(...) cannot walk (level, timestamp) in timestamp order
    if query.source is not None and not query.levels:
        return LEVELS  # the source index leads with (source, level)
    return ()


def _newest_sql(query: LogQuery, conditions: list[str], args: dict[str, Any], rows: int, skip: int = 0) -> str:
    """The rows matching ``conditions`` and the query's levels, newest first, ``rows`` after ``skip``.

    Written so that PostgreSQL walks an index in ``(timestamp, id)`` order
    and stops at the rows needed. Where no single index holds that order
    (several levels; a source without a level, whose index leads with
    ``(source, level)``), one branch per level walks the ``(level, ...)``
    or ``(source, level, ...)`` index and stops there, and a merge keeps
    the order. ``level = ANY(...)`` instead fetched every row of those
    levels and sorted them (p95 43 ms for ERROR and FATAL, a third of 1M
    rows), and level with source combined two indexes and sorted (265 ms
    on 10M rows).
    """
    args["limit"], args["offset"] = rows, skip
    page = "LIMIT %(limit)s OFFSET %(offset)s" if skip else "LIMIT %(limit)s"
    levels = _branch_levels(query)
    # Only constants are interpolated into the SQL text; every value is a parameter.
    if not levels:
        if query.levels:
            conditions = ["level = %(level)s", *conditions]
            args["level"] = query.levels[0]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {COLUMNS} FROM logs {where} ORDER BY {_ORDER} {page}"  # noqa: S608
    args["branch_rows"] = rows + skip
    branches = []
    for i, level in enumerate(levels):
        args[f"level{i}"] = level
        where = " AND ".join([f"level = %(level{i})s", *conditions])
        branches.append(f"(SELECT {COLUMNS} FROM logs WHERE {where} ORDER BY {_ORDER} LIMIT %(branch_rows)s)")  # noqa: S608
    return f"SELECT {COLUMNS} FROM ({' UNION ALL '.join(branches)}) AS merged ORDER BY {_ORDER} {page}"  # noqa: S608


def _skip(query: LogQuery) -> int:
    return query.page * query.limit if query.page is not None else 0


def select_sql(query: LogQuery) -> tuple[str, dict[str, Any]]:
    """The page of rows: one more than ``limit``, so the caller knows whether more follow.

    With text, the form that finds every match through the GIN index; see
    :func:`recent_text_sql` for the one to try first.
    """
    if query.text is None:
        conditions, args = _where(query, levels=False)
        _after_cursor(query, conditions, args)
        return _newest_sql(query, conditions, args, query.limit + 1, _skip(query)), args
    conditions, args = _where(query)
    ranked = query.ranked
    if ranked and query.cursor is not None:
        args["c_ts"], args["c_id"] = query.cursor.timestamp, query.cursor.id
        conditions.append(f'({_RANK}, "timestamp", id) < (%(c_rank)s::float8, %(c_ts)s::timestamptz, %(c_id)s::uuid)')
        args["c_rank"] = query.cursor.rank if query.cursor.rank is not None else 0.0
    else:
        _after_cursor(query, conditions, args)
    order = f"{_RANK} DESC, {_ORDER}" if ranked else _GIN_ORDER
    rank_column = f", {_RANK} AS rank" if ranked else ""
    where = f"WHERE {' AND '.join(conditions)}"
    # Only constants are interpolated into the SQL text; every value is a parameter.
    sql = f"SELECT {COLUMNS}{rank_column} FROM logs {where} ORDER BY {order} LIMIT %(limit)s"  # noqa: S608
    args["limit"] = query.limit + 1
    if query.page is not None:
        sql += " OFFSET %(offset)s"
        args["offset"] = _skip(query)
    return sql, args


def recent_text_sql(query: LogQuery, scan: int | None = None) -> tuple[str, dict[str, Any]] | None:
    """Full text, newest first, looked for among the ``scan`` newest rows; ``None`` when ranked or without text.

    The GIN index finds every match and a sort orders them, so its cost
    grows with the matches: a phrase in one row of seven took ~1.1 s on
    10M rows. Walking the newest rows in index order and testing each costs
    ~1.2 µs a row and finds a common phrase's page after a few hundred. If
    the page is full within the rows walked it is exactly the page the GIN
    form returns (the rows passed are the newest ones); if not, see
    :func:`next_scan`. ``scan`` defaults to :func:`first_scan`.
    """
    if query.text is None or query.ranked:
        return None
    conditions, args = _where(query, levels=False, text=False)
    _after_cursor(query, conditions, args)
    skip = _skip(query)
    newest = _newest_sql(query, conditions, args, scan or first_scan(query))
    args["q"], args["page_rows"], args["page_skip"] = query.text, query.limit + 1, skip
    # Only constants are interpolated into the SQL text; every value is a parameter.
    sql = (
        f"SELECT {COLUMNS} FROM ({newest}) AS newest WHERE {_FTS_DOC} @@ {_FTS_QUERY}"  # noqa: S608
        f" ORDER BY {_ORDER} LIMIT %(page_rows)s OFFSET %(page_skip)s"
    )
    return sql, args


def first_scan(query: LogQuery) -> int:
    """The newest rows a full-text walk tests first: :data:`RECENT_SCAN` per row the page needs."""
    return RECENT_SCAN * (_skip(query) + query.limit + 1)


def next_scan(query: LogQuery, scanned: int, found: int) -> int | None:
    """How many newest rows to walk next, after ``found`` rows of the page among ``scanned``; ``None``: ask GIN.

    No match at all means a rare text, which the GIN index finds in a few
    milliseconds. Some matches mean a phrase thinned out among the newest
    rows (by a burst of other events, say): the walk grows, at least
    fourfold and to twice what the density seen so far says the page needs,
    up to :data:`MAX_RECENT_SCAN` rows (~60 ms), the most a walk may cost
    before the GIN index is asked after all.
    """
    skip = _skip(query)
    matches = skip + found if found else 0
    if matches == 0 or scanned >= MAX_RECENT_SCAN:
        return None
    estimate = scanned * (skip + query.limit + 1) / matches
    if estimate > MAX_RECENT_SCAN:
        return None
    return min(MAX_RECENT_SCAN, max(4 * scanned, math.ceil(2 * estimate)))


def count_cap(query: LogQuery) -> int:
    """How far a page's total is counted: :data:`COUNT_AHEAD` rows past the page, at most :data:`COUNT_CAP`."""
    return min(COUNT_CAP, _skip(query) + query.limit + COUNT_AHEAD)


def count_sql(query: LogQuery) -> tuple[str, dict[str, Any]]:
    """How many rows match, counted up to :func:`count_cap` so it stays an index-bounded query.

    Counting costs a row each: 100,000 took 20-30 ms of every page request
    on 10M rows, 10,000 take 3 ms, and a total that far past the page is
    all a pager needs ("page 3 of 500+"). The inner ``ORDER BY`` matches
    the indexes, so even an unfiltered count walks an index rather than the
    table; with text it is left out, so the GIN index finds the matches
    (see :data:`_GIN_ORDER`).
    """
    conditions, args = _where(query)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args["cap"] = count_cap(query)
    order = "" if query.text is not None else 'ORDER BY "timestamp" DESC, id DESC '
    inner = f"SELECT 1 FROM logs {where} {order}LIMIT %(cap)s"  # noqa: S608
    return f"SELECT count(*) FROM ({inner}) AS matching", args  # noqa: S608


def level_counts_sql(since: datetime, organization_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """Events per level since ``since`` (of one organization): index range counts, never a table scan."""
    org = " AND logs.organization_id = %(org)s" if organization_id is not None else ""
    # Only constants are interpolated into the SQL text; every value is a parameter.
    count = f'SELECT count(*) FROM logs WHERE logs.level = l.level AND logs."timestamp" >= %(since)s{org}'  # noqa: S608
    sql = f"SELECT l.level, ({count}) AS n FROM unnest(%(levels)s::text[]) AS l(level)"  # noqa: S608
    return sql, {"since": since, "levels": list(LEVELS), "org": organization_id}


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
