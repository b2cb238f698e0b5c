"""The event rules of DESIGN.md "The event", one row per rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from app.models import LEVELS, InvalidEvent, kafka_record_id, parse_event

BASE = {"message": "disk full", "source": "api"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("INFO", "INFO"),
        ("info", "INFO"),
        (" Error ", "ERROR"),
        ("warning", "WARN"),
        ("WARN", "WARN"),
        ("critical", "FATAL"),
        ("fatal", "FATAL"),
        ("trace", "TRACE"),
        ("debug", "DEBUG"),
        (None, "INFO"),
    ],
)
def test_level_is_normalised(given: str | None, expected: str) -> None:
    assert parse_event({**BASE, "level": given}).level == expected


@pytest.mark.parametrize("alias", ["level", "logLevel"])
def test_level_aliases(alias: str) -> None:
    assert parse_event({**BASE, alias: "error"}).level == "ERROR"


def test_camel_case_aliases() -> None:
    event = parse_event({**BASE, "organizationId": "acme", "traceId": "abc123"})
    assert (event.organization_id, event.trace_id) == ("acme", "abc123")


def test_id_assigned_when_absent_and_kept_when_given() -> None:
    given = uuid.uuid4()
    assert parse_event({**BASE, "id": str(given)}).id == given
    assert parse_event(BASE).id != parse_event(BASE).id
    derived = kafka_record_id("logs.raw", 3, 42, 1_700_000_000_000, b"{}")
    assert parse_event(BASE, default_id=derived).id == derived
    assert derived == kafka_record_id("logs.raw", 3, 42, 1_700_000_000_000, b"{}")
    assert derived.version == 7 and derived.bytes[:6] == (1_700_000_000_000).to_bytes(6, "big"), "the record's time"


def test_ids_sort_by_the_time_they_were_made() -> None:
    ids = [parse_event(BASE).id for _ in range(50)]
    assert all(i.version == 7 for i in ids)
    assert [i.bytes[:6] for i in ids] == sorted(i.bytes[:6] for i in ids), "the primary key grows at its end"
    earlier = kafka_record_id("logs.raw", 0, 0, 1_700_000_000_000, b"{}")
    later = kafka_record_id("logs.raw", 0, 0, 1_700_000_000_001, b"{}")
    assert earlier < later


@pytest.mark.parametrize(
    "other",
    [
        ("logs.raw", 3, 43, 1_700_000_000_000, b"{}"),
        ("logs.raw", 2, 42, 1_700_000_000_000, b"{}"),
        ("logs.raw", 3, 42, 1_700_000_000_001, b"{}"),
        ("logs.raw", 3, 42, 1_700_000_000_000, b"{ }"),
    ],
)
def test_derived_ids_differ_when_the_record_differs(other: tuple[str, int, int, int, bytes]) -> None:
    """A re-created topic starts at offset 0 again: its records must not collide with the old ones."""
    assert kafka_record_id("logs.raw", 3, 42, 1_700_000_000_000, b"{}") != kafka_record_id(*other)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.123456-01:00", datetime(2026, 1, 2, 4, 4, 5, 123456, tzinfo=UTC)),
    ],
)
def test_timestamp_is_utc(given: str, expected: datetime) -> None:
    stamp = parse_event({**BASE, "timestamp": given}).timestamp
    assert stamp == expected
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_timestamp_defaults_to_receipt() -> None:
    before = datetime.now(UTC)
    stamp = parse_event(BASE).timestamp
    assert before <= stamp <= datetime.now(UTC)
    received = datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_event(BASE, received_at=received).timestamp == received


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"message": None}, "message", "type"),
        ({"message": ""}, "message", "not_blank"),
        ({"message": "   "}, "message", "not_blank"),
        ({"message": 12}, "message", "type"),
        ({"message": "x" * (32 * 1024 + 1)}, "message", "max_bytes"),
        ({"message": "é" * (16 * 1024 + 1)}, "message", "max_bytes"),
        ({"message": "a\x00b"}, "message", "no_nul"),
        ({"source": ""}, "source", "min_length"),
        ({"source": "s" * 256}, "source", "max_length"),
        ({"source": "a\nb"}, "source", "printable"),
        ({"source": 5}, "source", "type"),
        ({"level": "LOUD"}, "level", "one_of"),
        ({"level": 3}, "level", "type"),
        ({"logLevel": "nope"}, "level", "one_of"),
        ({"id": "not-a-uuid"}, "id", "uuid"),
        ({"timestamp": "yesterday"}, "timestamp", "iso8601"),
        ({"timestamp": "0001-01-01T03:56:24+11:42"}, "timestamp", "range"),
        ({"timestamp": "9999-12-31T23:00:00-05:00"}, "timestamp", "range"),
        ({"organization_id": "x" * 256}, "organization_id", "max_length"),
        ({"organizationId": "a\tb"}, "organization_id", "printable"),
        ({"traceId": ""}, "trace_id", "min_length"),
        ({"metadata": [1, 2]}, "metadata", "type"),
        ({"metadata": {"blob": "x" * (16 * 1024)}}, "metadata", "max_bytes"),
    ],
)
def test_rule_errors_name_field_and_rule(change: dict[str, Any], field: str, rule: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event({**BASE, **change})
    assert [(e.field, e.rule) for e in caught.value.errors] == [(field, rule)]
    assert field in str(caught.value)


@pytest.mark.parametrize("missing", ["message", "source"])
def test_required_fields(missing: str) -> None:
    data = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(InvalidEvent) as caught:
        parse_event(data)
    assert [(e.field, e.rule, e.message) for e in caught.value.errors] == [(missing, "required", "is required")]


@pytest.mark.parametrize("value", [[], "text", 3, None])
def test_event_must_be_an_object(value: Any) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(value)
    assert caught.value.errors[0].rule == "object"


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event({"level": "x", "source": ""})
    assert {e.field for e in caught.value.errors} == {"level", "source", "message"}


def test_wire_format_is_canonical() -> None:
    event = parse_event({**BASE, "logLevel": "warning", "organizationId": "acme", "metadata": {"k": 1}})
    wire = event.to_wire()
    assert set(wire) == {"id", "timestamp", "level", "message", "source", "organization_id", "trace_id", "metadata"}
    assert wire["level"] == "WARN" and wire["organization_id"] == "acme" and wire["metadata"] == {"k": 1}
    assert parse_event(wire) == event


def test_levels_are_the_documented_six() -> None:
    assert LEVELS == ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
