"""Export rows as NDJSON (the API's event shape) and as CSV (RFC 4180, no formula injection)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from app.domain.export import (
    CSV_COLUMNS,
    ROW_NAMES,
    csv_header,
    csv_row,
    export_query,
    file_name,
    ndjson_line,
    next_page,
    page_bytes,
    parse_format,
)
from app.domain.query import Cursor, LogQuery
from app.errors import QueryError
from app.web.schemas import EventOut
from tests.support.params import query_params

ID = uuid.UUID("0b5d2c1e-8f3a-4b7c-9d2e-1f0a3b4c5d6e")


def row(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": ID,
        "timestamp": datetime(2024, 5, 1, 12, 30, 0, 123456, tzinfo=UTC),
        "level": "ERROR",
        "message": "payment failed",
        "source": "payments",
        "organization_id": "acme",
        "trace_id": "t-1",
        "metadata": {"fields": {"status": "500"}},
    }
    return base | changes


def test_ndjson_is_the_event_the_api_answers() -> None:
    line = ndjson_line(row())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    event = orjson.loads(line)
    assert EventOut.model_validate(event).model_dump() == event  # every field of EventOut, nothing else
    assert event == {
        "id": str(ID),
        "timestamp": "2024-05-01T12:30:00.123456+00:00",
        "level": "ERROR",
        "message": "payment failed",
        "source": "payments",
        "organization_id": "acme",
        "trace_id": "t-1",
        "metadata": {"fields": {"status": "500"}},
        "organizationId": "acme",
        "traceId": "t-1",
        "logLevel": "ERROR",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"message": "two\nlines"}, {"message": "two\nlines"}),
        ({"organization_id": None, "trace_id": None, "metadata": None}, {"organizationId": None, "metadata": None}),
        (
            {"timestamp": datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))},
            {"timestamp": "2024-05-01T12:30:00+00:00"},
        ),
        ({"timestamp": "2024-05-01T12:30:00+00:00", "id": str(ID)}, {"timestamp": "2024-05-01T12:30:00+00:00"}),
        ({"metadata": '{"a": 1}'}, {"metadata": {"a": 1}}),  # a jsonb column read as text
        ({"message": "ünïcödé ✓ 日本"}, {"message": "ünïcödé ✓ 日本"}),
    ],
)
def test_ndjson_rows(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    line = ndjson_line(row(**changes))
    assert line.count(b"\n") == 1
    event = orjson.loads(line)
    assert {key: event[key] for key in expected} == expected


def test_csv_header() -> None:
    assert csv_header() == b"timestamp,level,source,organization_id,trace_id,id,message,metadata\r\n"
    assert tuple(csv_header().decode().strip().split(",")) == CSV_COLUMNS


def test_csv_row() -> None:
    assert csv_row(row()) == (
        b"2024-05-01T12:30:00.123456+00:00,ERROR,payments,acme,t-1,"
        + str(ID).encode()
        + b',payment failed,"{""fields"":{""status"":""500""}}"\r\n'
    )


@pytest.mark.parametrize(
    ("changes", "cells"),
    [
        ({"message": "a, b"}, {"message": "a, b"}),
        ({"message": 'say "hi"'}, {"message": 'say "hi"'}),
        ({"message": "two\nlines\r\nand more"}, {"message": "two\nlines\r\nand more"}),
        ({"message": "ünïcödé ✓ 日本"}, {"message": "ünïcödé ✓ 日本"}),
        ({"organization_id": None, "trace_id": None, "metadata": None}, {"organization_id": "", "metadata": ""}),
        ({"metadata": {"a": [1, 2], "b": "x,y"}}, {"metadata": '{"a":[1,2],"b":"x,y"}'}),
        # formula injection: neutralised with a leading quote
        ({"message": '=HYPERLINK("http://x","y")'}, {"message": '\'=HYPERLINK("http://x","y")'}),
        ({"message": "+1+1"}, {"message": "'+1+1"}),
        ({"message": "-2+3"}, {"message": "'-2+3"}),
        ({"message": "@SUM(A1)"}, {"message": "'@SUM(A1)"}),
        ({"message": "\tindented"}, {"message": "'\tindented"}),
        ({"message": "\rreturn"}, {"message": "'\rreturn"}),
        ({"source": "=cmd|' /C calc'!A0"}, {"source": "'=cmd|' /C calc'!A0"}),
        ({"trace_id": "-abc"}, {"trace_id": "'-abc"}),
        ({"message": "a = b"}, {"message": "a = b"}),  # only a leading character counts
        ({"message": " =not first"}, {"message": " =not first"}),
    ],
)
def test_csv_cells(changes: dict[str, Any], cells: dict[str, str]) -> None:
    line = csv_row(row(**changes))
    assert line.endswith(b"\r\n")
    (parsed,) = list(csv.reader(io.StringIO(line.decode(), newline="")))
    by_column = dict(zip(CSV_COLUMNS, parsed, strict=True))
    assert {key: by_column[key] for key in cells} == cells


def test_a_whole_export_reads_back() -> None:
    rows = [row(message=f'm{i},\n"{i}"', id=uuid.uuid4()) for i in range(3)]
    data = csv_header() + b"".join(csv_row(r) for r in rows)
    parsed = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert [p["message"] for p in parsed] == [r["message"] for r in rows]
    assert [p["id"] for p in parsed] == [str(r["id"]) for r in rows]


def test_format_is_ndjson_unless_csv_is_asked_for() -> None:
    assert parse_format(query_params()) == "ndjson"
    assert parse_format(query_params({"format": "csv"})) == "csv"
    with pytest.raises(QueryError) as caught:
        parse_format(query_params({"format": "xlsx"}))
    assert (caught.value.field, caught.value.rule) == ("format", "one_of")


def test_an_export_takes_every_match_newest_first_whatever_the_paging_asked() -> None:
    asked = LogQuery(levels=("ERROR",), limit=5, page=3, sort="relevance", text="x", cursor=Cursor("t", "i"))
    query = export_query(asked, page_rows=2)
    assert (query.limit, query.page, query.cursor, query.sort) == (2, None, None, "newest")
    assert (query.levels, query.text) == (("ERROR",), "x")


def _tuple(**changes: Any) -> tuple[Any, ...]:
    values = row(**changes)
    return tuple(values[name] for name in ROW_NAMES)


def test_pages_follow_each_other_by_the_last_row_shown() -> None:
    query = export_query(LogQuery(), page_rows=2)
    first = [_tuple(timestamp=datetime(2024, 5, 1, 12, 0, s, tzinfo=UTC), id=uuid.uuid4()) for s in (3, 2, 1)]
    following = next_page(query, first)
    assert following is not None and following.cursor == Cursor("2024-05-01T12:00:02+00:00", str(first[1][0]))
    assert next_page(query, first[:2]) is None, "no row past the page: the export is done"


def test_a_page_is_its_rows_in_the_format_asked() -> None:
    rows = [_tuple(message=f"m{i}", id=uuid.uuid4()) for i in range(3)]
    ndjson = page_bytes(rows, "ndjson")
    assert [orjson.loads(line)["message"] for line in ndjson.splitlines()] == ["m0", "m1", "m2"]
    assert page_bytes(rows, "csv") == b"".join(csv_row(dict(zip(ROW_NAMES, r, strict=True))) for r in rows)
    assert page_bytes([], "csv") == b""


def test_the_file_is_named_for_when_it_was_made() -> None:
    when = datetime(2026, 12, 7, 12, 15, 30, tzinfo=timezone(timedelta(hours=2)))
    assert file_name("csv", when) == "logpipe-20261207T101530Z.csv"
