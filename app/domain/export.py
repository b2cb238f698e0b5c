"""The rows of an export (``GET /api/v1/logs/export``) as NDJSON lines or CSV, one row at a time.

One row in, bytes out, so the view can stream an export of any length
newest first without holding it. A row is a mapping of the ``logs``
columns (``id``, ``timestamp``, ``level``, ``message``, ``source``,
``organization_id``, ``trace_id``, ``metadata``), as PostgreSQL returns them
(a UUID, an aware datetime, a dict) or already as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from app.domain.query import java_event

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
