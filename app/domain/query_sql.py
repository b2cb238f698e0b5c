"""A :class:`~app.domain.query.LogQuery` → the SQL that answers it, written for the indexes of ``logs``.

Pure, so the SQL of every filter combination is unit-tested without a
server, and ``tests/integration/test_explain.py`` checks on a real table
that none of it scans a partition and that every form returns what one
plainly sorted query does. Text and field filters are first looked for in
walks over the newest rows: :mod:`app.domain.query_walks`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final

from app.domain.field_filters import field_conditions
from app.domain.query import COUNT_CAP, LogQuery
from app.models import LEVELS

COLUMNS: Final = 'id, "timestamp", level, message, source, organization_id, trace_id, metadata'
LATERAL_MAX_ROWS: Final = 500  # per-level walks up to this long are planned once (see _newest_sql)
_WALKED_COLUMNS: Final = ", ".join(f"walked.{column.strip()}" for column in COLUMNS.split(","))
COUNT_AHEAD: Final = 10_000  # a page's total counts this many rows past the page
TS_CONFIG: Final = "simple"  # must match the expression of logs_message_fts_idx
_FTS_DOC: Final = f"to_tsvector('{TS_CONFIG}', message)"
_FTS_QUERY: Final = f"websearch_to_tsquery('{TS_CONFIG}', %(q)s)"
_RANK: Final = f"ts_rank({_FTS_DOC}, {_FTS_QUERY})::float8"
_ORDER: Final = '"timestamp" DESC, id DESC'
# Newest first in a form the (timestamp, id) B-tree cannot serve, so that a GIN index (full text,
# or metadata for field filters) finds the matches and a top-N sort orders them: walking the B-tree
# tests every row passed, all of them when the matches are rare or old (measured: 3.9 s over 1.4M
# rows for a word in 41).
_GIN_ORDER: Final = "(\"timestamp\" + interval '0 s') DESC, id DESC"


def _where(
    query: LogQuery, *, levels: bool = True, text: bool = True, fields: bool = True
) -> tuple[list[str], dict[str, Any]]:
    conditions: list[str] = []
    args: dict[str, Any] = {}
    if levels and len(query.levels) == 1:
        conditions.append("level = %(level)s")
        args["level"] = query.levels[0]
    elif levels and query.levels:
        conditions.append("level = ANY(%(levels)s)")
        args["levels"] = list(query.levels)
    equal_or_bounded: tuple[tuple[str, object, str], ...] = (
        ("source", query.source, "source = %(source)s"),
        ("org", query.organization_id, "organization_id = %(org)s"),
        ("start", query.start, '"timestamp" >= %(start)s'),
        ("end", query.end, '"timestamp" <= %(end)s'),
    )
    for name, value, condition in equal_or_bounded:
        if value is not None:
            conditions.append(condition)
            args[name] = value
    if text and query.text is not None:
        conditions.append(f"{_FTS_DOC} @@ {_FTS_QUERY}")
        args["q"] = query.text
    if fields and query.fields:
        field_sql, field_args = field_conditions(query.fields)
        conditions += field_sql
        args |= field_args
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
    ``(source, level)``), one walk per level of the ``(level, ...)`` or
    ``(source, level, ...)`` index stops at the rows needed, and the walks
    are merged. ``level = ANY(...)`` instead fetched every row of those
    levels and sorted them (p95 43 ms for ERROR and FATAL, a third of 1M
    rows), and level with source combined two indexes and sorted (265 ms on
    10M rows).

    Up to :data:`LATERAL_MAX_ROWS` rows, the walks are one ``LATERAL``
    subquery over the levels, planned once, each walking ``rows + skip``
    rows: written out as one branch per level, a source's six branches over
    eleven daily partitions took 3.6-7.6 ms to plan for 1.5 ms of work (10M
    rows). Longer walks (a full-text walk over thousands of the newest rows)
    are one branch per level under a merge that pulls from each only as many
    rows as the page needs, six times fewer than six full walks (source and
    text: 26 ms rather than 50).
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
    if rows + skip <= LATERAL_MAX_ROWS:
        return _lateral_walks(levels, conditions, args, page)
    return _merged_branches(levels, conditions, args, page)


def _lateral_walks(levels: tuple[str, ...], conditions: list[str], args: dict[str, Any], page: str) -> str:
    args["branch_levels"] = list(levels)
    where = " AND ".join(["logs.level = branch.level", *conditions])
    walk = f"SELECT {COLUMNS} FROM logs WHERE {where} ORDER BY {_ORDER} LIMIT %(branch_rows)s"  # noqa: S608
    return (
        f"SELECT {_WALKED_COLUMNS} FROM unnest(%(branch_levels)s::text[]) AS branch(level)"  # noqa: S608
        f" CROSS JOIN LATERAL ({walk}) AS walked ORDER BY {_ORDER} {page}"
    )


def _merged_branches(levels: tuple[str, ...], conditions: list[str], args: dict[str, Any], page: str) -> str:
    branches = []
    for i, level in enumerate(levels):
        args[f"level{i}"] = level
        where = " AND ".join([f"level = %(level{i})s", *conditions])
        branches.append(f"(SELECT {COLUMNS} FROM logs WHERE {where} ORDER BY {_ORDER} LIMIT %(branch_rows)s)")  # noqa: S608
    return f"SELECT {COLUMNS} FROM ({' UNION ALL '.join(branches)}) AS merged ORDER BY {_ORDER} {page}"  # noqa: S608


def select_sql(query: LogQuery) -> tuple[str, dict[str, Any]]:
    """The page of rows: one more than ``limit``, so the caller knows whether more follow.

    With text or field filters, the form that finds every match through a
    GIN index; see :func:`app.domain.query_walks.recent_sql` for the one to
    try first.
    """
    if query.text is None and not query.fields:
        conditions, args = _where(query, levels=False)
        _after_cursor(query, conditions, args)
        return _newest_sql(query, conditions, args, query.limit + 1, query.offset), args
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
        args["offset"] = query.offset
    return sql, args


def count_cap(query: LogQuery) -> int:
    """How far a page's total is counted: :data:`COUNT_AHEAD` rows past the page, at most :data:`COUNT_CAP`."""
    return min(COUNT_CAP, query.offset + query.limit + COUNT_AHEAD)


def count_sql(query: LogQuery) -> tuple[str, dict[str, Any]]:
    """How many rows match, counted up to :func:`count_cap` so it stays an index-bounded query.

    Counting costs a row each: 100,000 took 20-30 ms of every page request
    on 10M rows, 10,000 take 3 ms, and a total that far past the page is
    all a pager needs ("page 3 of 500+"). The inner ``ORDER BY`` matches
    the indexes, so even an unfiltered count walks an index rather than the
    table; with text or field filters it is left out, so a GIN index finds
    the matches (see :data:`_GIN_ORDER`).
    """
    conditions, args = _where(query)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    args["cap"] = count_cap(query)
    order = "" if query.text is not None or query.fields else 'ORDER BY "timestamp" DESC, id DESC '
    inner = f"SELECT 1 FROM logs {where} {order}LIMIT %(cap)s"  # noqa: S608
    return f"SELECT count(*) FROM ({inner}) AS matching", args  # noqa: S608


def level_counts_sql(since: datetime, organization_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """Events per level since ``since`` (of one organization): index range counts, never a table scan."""
    org = " AND logs.organization_id = %(org)s" if organization_id is not None else ""
    # Only constants are interpolated into the SQL text; every value is a parameter.
    count = f'SELECT count(*) FROM logs WHERE logs.level = l.level AND logs."timestamp" >= %(since)s{org}'  # noqa: S608
    sql = f"SELECT l.level, ({count}) AS n FROM unnest(%(levels)s::text[]) AS l(level)"  # noqa: S608
    return sql, {"since": since, "levels": list(LEVELS), "org": organization_id}


def window_count_sql(query: LogQuery, since: datetime, until: datetime) -> tuple[str, dict[str, Any]]:
    """How many rows match the query's filters with a timestamp from ``since`` to ``until`` (a log rule's window).

    Exact, not capped: the window bounds it, so the time index (or a GIN
    index, for text and fields) and partition pruning keep it to the rows
    of the window. The query's own ``start``, ``end`` and paging are not used.
    """
    conditions, args = _where(dataclasses.replace(query, start=since, end=until))
    return f"SELECT count(*) FROM logs WHERE {' AND '.join(conditions)}", args  # noqa: S608
