"""Every way a logs.raw record can be wrong ends as a dead letter with a reason."""

from __future__ import annotations

import orjson
import pytest

from app.domain.deadletters import DeadLetter, Reason
from app.domain.records import RawRecord, validate_record
from app.models import kafka_record_id

LIMIT = 128 * 1024


def record(value: bytes | None, offset: int = 7) -> RawRecord:
    return RawRecord("logs.raw", 2, offset, 1_700_000_000_000, b"k", value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json", Reason.NOT_JSON),
        (b"", Reason.NOT_JSON),
        (None, Reason.NOT_JSON),
        (b'{"message": "unterminated', Reason.NOT_JSON),
        (b"\xff\xfe\xfa", Reason.BAD_UTF8),
        (b'{"message": "\xc3\x28", "source": "a"}', Reason.BAD_UTF8),
        (b"[1, 2]", Reason.NOT_OBJECT),
        (b'"a string"', Reason.NOT_OBJECT),
        (b"42", Reason.NOT_OBJECT),
        (b"null", Reason.NOT_OBJECT),
        (b'{"message": 1, "source": "a"}', Reason.INVALID),
        (b'{"source": "a"}', Reason.INVALID),
        (b'{"message": "m", "source": "a", "level": "LOUD"}', Reason.INVALID),
        (b"x" * (LIMIT + 1), Reason.TOO_LARGE),
        (b'{"message": "' + b"m" * (1024 * 1024) + b'", "source": "a"}', Reason.TOO_LARGE),
    ],
)
def test_bad_records_become_dead_letters(value: bytes | None, reason: Reason) -> None:
    out = validate_record(record(value), LIMIT)
    assert isinstance(out, DeadLetter)
    assert out.error is reason
    assert out.value == (value or b"")
    assert (out.source_topic, out.source_partition, out.source_offset, out.key) == ("logs.raw", 2, 7, b"k")
    assert out.detail


def test_invalid_detail_names_field_and_rule() -> None:
    out = validate_record(record(b'{"message": "", "source": "a"}'), LIMIT)
    assert isinstance(out, DeadLetter)
    assert out.detail.startswith("message:")


def test_good_record_becomes_a_wire_event_with_a_stable_id() -> None:
    value = orjson.dumps({"message": "m", "source": "api", "level": "warning"})
    first = validate_record(record(value), LIMIT)
    again = validate_record(record(value), LIMIT)
    assert isinstance(first, dict)
    assert first == again, "reprocessing the same record must give the same event"
    assert first["id"] == str(kafka_record_id("logs.raw", 2, 7, 1_700_000_000_000, value))
    assert first["level"] == "WARN"
    assert first["timestamp"] == "2023-11-14T22:13:20+00:00"


def test_given_id_and_timestamp_win() -> None:
    value = orjson.dumps(
        {
            "id": "5f0c1d5e-0000-4000-8000-000000000001",
            "timestamp": "2023-11-14T21:00:00Z",
            "message": "m",
            "source": "a",
        }
    )
    out = validate_record(record(value), LIMIT)
    assert isinstance(out, dict)
    assert out["id"] == "5f0c1d5e-0000-4000-8000-000000000001"
    assert out["timestamp"] == "2023-11-14T21:00:00+00:00"


@pytest.mark.parametrize(
    ("timestamp", "rule"),
    [("2023-11-14T22:30:00Z", "timestamp: must not be more than 10 minutes ahead"), ("7817-01-01T00:00:00Z", "ahead")],
)
def test_an_event_dated_far_ahead_of_its_record_is_dead_lettered(timestamp: str, rule: str) -> None:
    out = validate_record(record(orjson.dumps({"timestamp": timestamp, "message": "m", "source": "a"})), LIMIT)
    assert isinstance(out, DeadLetter) and out.error is Reason.INVALID and rule in out.detail


def test_an_event_older_than_retention_is_dead_lettered() -> None:
    out = validate_record(
        record(orjson.dumps({"timestamp": "2023-11-01T00:00:00Z", "message": "m", "source": "a"})), LIMIT
    )
    assert isinstance(out, DeadLetter) and "older than the retention window of 7 days" in out.detail
