"""The rows of an export (``GET /api/v1/logs/export``) as NDJSON lines or CSV, one row at a time, and its pages.

One row in, bytes out, so the view can stream an export of any length
newest first without holding it. A row is a mapping of the ``logs``
columns (``id``, ``timestamp``, ``level``, ``message``, ``source``,
``organization_id``, ``trace_id``, ``metadata``), as PostgreSQL returns them
(a UUID, an aware datetime, a dict) or already as text.

An export is read in keyset pages of :data:`PAGE_ROWS` (:func:`export_query`,
:func:`next_page`): each page is one bounded query and its connection goes
back to the pool before the page is written, so a slow client holds no
connection and the worker holds one page at a time, whatever the export's length.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from app.domain.query import Cursor, LogQuery, Params, _first, java_event
from app.errors import QueryError

PAGE_ROWS: Final = 1000
ROW_NAMES: Final = ("id", "timestamp", "level", "message", "source", "organization_id", "trace_id", "metadata")
FORMATS: Final = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
CSV_COLUMNS: Final = ("timestamp", "level", "source", "organization_id", "trace_id", "id", "message", "metadata")
# What a spreadsheet may read as the start of a formula (OWASP's CSV injection list).
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def _event(row: Mapping[str, Any]) -> dict[str, Any]:
    timestamp, metadata = row["timestamp"], row["metadata"]
    if isinstance(timestamp, datetime):
        timestamp = timestamp.astimezone(UTC).isoformat()
    if isinstance(metadata, str | bytes):  # a jsonb column read without psycopg2's decoding
        metadata = orjson.loads(metadata)
    return {
        "id": str(row["id"]),
        "timestamp": timestamp,
        "level": row["level"],
        "message": row["message"],
        "source": row["source"],
        "organization_id": row["organization_id"],
        "trace_id": row["trace_id"],
        "metadata": metadata,
    }


def ndjson_line(row: Mapping[str, Any]) -> bytes:
    """One event as one JSON line ending in ``\\n``: the shape the query API answers (``EventOut``).

    The Java system's names (``organizationId``, ``traceId``, ``logLevel``)
    are there too, so an export reads like a page of ``content``. A newline
    inside a message is escaped by JSON, so a line is always one event.
    """
    return orjson.dumps(java_event(_event(row)), option=orjson.OPT_APPEND_NEWLINE)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_line(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)  # RFC 4180: quotes where needed, CRLF
    return out.getvalue().encode()


def csv_header() -> bytes:
    """The header line: ``timestamp,level,source,organization_id,trace_id,id,message,metadata``."""
    return _csv_line(list(CSV_COLUMNS))


def csv_row(row: Mapping[str, Any]) -> bytes:
    """One event as an RFC 4180 CSV line (UTF-8, CRLF; a field with a comma, quote or line break is quoted).

    ``metadata`` is compact JSON and an absent value an empty cell. Formula
    injection is neutralised: a cell beginning with ``=``, ``+``, ``-``, ``@``,
    a tab or a carriage return gets a leading ``'``, so a spreadsheet shows
    text such as ``=HYPERLINK(...)`` from a log message instead of running
    it. That ``'`` is then part of the value for a program reading the CSV;
    NDJSON is the export for exact values.
    """
    event = _event(row)
    metadata = event["metadata"]
    event["metadata"] = None if metadata is None else orjson.dumps(metadata).decode()
    return _csv_line([_cell(event[column]) for column in CSV_COLUMNS])


def parse_format(params: Params) -> str:
    """``format``: ``ndjson`` (the default) or ``csv``; raises :class:`QueryError`."""
    found = _first(params, "format")
    wanted = found[1] if found else "ndjson"
    if wanted not in FORMATS:
        raise QueryError("format", "one_of", f"must be one of {', '.join(FORMATS)}")
    return wanted


def export_query(query: LogQuery, page_rows: int = PAGE_ROWS) -> LogQuery:
    """The first page of an export of what ``query`` matches: every match, newest first, so its paging
    (``limit``, ``page``, ``cursor``) and ``sort`` are set aside."""
    return dataclasses.replace(query, limit=page_rows, page=None, cursor=None, sort="newest")


def next_page(query: LogQuery, rows: Sequence[Sequence[Any]]) -> LogQuery | None:
    """The page after ``rows`` (read for ``query``, one more than its limit when more follow), or ``None``."""
    if len(rows) <= query.limit:
        return None
    last = rows[query.limit - 1]
    return dataclasses.replace(query, cursor=Cursor(last[1].astimezone(UTC).isoformat(), str(last[0])))


def page_bytes(rows: Sequence[Sequence[Any]], fmt: str) -> bytes:
    """The rows of one page (columns in :data:`ROW_NAMES` order) in ``fmt``, as one chunk to write."""
    line = ndjson_line if fmt == "ndjson" else csv_row
    return b"".join(line(dict(zip(ROW_NAMES, row, strict=True))) for row in rows)


def file_name(fmt: str, now: datetime) -> str:
    """What a browser saves the export as: ``logpipe-20261207T101500Z.ndjson``."""
    return f"logpipe-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.{fmt}"
