"""Export rows as NDJSON (the API's event shape) and as CSV (RFC 4180, no formula injection)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from app.domain.export import CSV_COLUMNS, csv_header, csv_row, ndjson_line
from app.web.schemas import EventOut

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
