"""Replaying dead letters: merge patch, the original id kept, still-invalid letters refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from app.domain.replay import StoredLetter, merge_patch, replay_record, shown_value
from app.errors import ReplayRefused
from app.models import kafka_record_id

REPLAYED = datetime(2023, 11, 15, tzinfo=UTC)  # a day after the letter's record: within retention


def letter(value: bytes) -> StoredLetter:
    return StoredLetter(0, 7, "invalid", "logs.raw", 2, 41, 1_700_000_000_000, value)


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        ({"a": 1, "b": 2}, {"b": 3}, {"a": 1, "b": 3}),
        ({"a": 1, "b": 2}, {"b": None}, {"a": 1}),
        ({"a": {"x": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}}),
        ({"a": [1]}, {"a": [2]}, {"a": [2]}),
        ("not an object", {"a": 1}, {"a": 1}),
        ({"a": 1}, "replace", "replace"),
    ],
)
def test_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_fixed_letter_keeps_the_id_it_would_have_had() -> None:
    original = orjson.dumps({"message": "m", "source": "s", "level": "LOUD"})
    fixed = orjson.loads(replay_record(letter(original), {"level": "WARN"}, now=REPLAYED))
    assert fixed["level"] == "WARN"
    assert fixed["id"] == str(kafka_record_id("logs.raw", 2, 41, 1_700_000_000_000, original))
    assert fixed["timestamp"] == "2023-11-14T22:13:20+00:00", "the original record's time"
    assert replay_record(letter(original), {"level": "WARN"}, now=REPLAYED) == replay_record(
        letter(original), {"level": "WARN"}, now=REPLAYED
    )


def test_a_given_id_is_kept() -> None:
    value = orjson.dumps({"id": "0b6f5c1e-0000-4000-8000-000000000001", "message": "", "source": "s"})
    assert orjson.loads(replay_record(letter(value), {"message": "fixed"}, now=REPLAYED))["id"].endswith("0001")


@pytest.mark.parametrize(
    ("value", "patch", "text"),
    [
        (b'{"message": "", "source": "s"}', None, "message"),
        (b"not json", None, "not a JSON object"),
        (b'{"message": "m", "source": "s", "level": "LOUD"}', {"level": "LOUDER"}, "level"),
    ],
)
def test_still_invalid_letters_are_refused(value: bytes, patch: dict[str, Any] | None, text: str) -> None:
    with pytest.raises(ReplayRefused, match=text):
        replay_record(letter(value), patch, now=REPLAYED)


def test_a_non_json_letter_can_be_replaced_by_its_patch() -> None:
    replaced = orjson.loads(replay_record(letter(b"garbage"), {"message": "rewritten", "source": "ops"}, now=REPLAYED))
    assert replaced["message"] == "rewritten"


def test_a_letter_older_than_retention_is_refused_as_it_would_be_on_arrival() -> None:
    value = orjson.dumps({"message": "m", "source": "s"})
    with pytest.raises(ReplayRefused, match="timestamp: is older than the retention window of 7 days"):
        replay_record(letter(value), None, now=REPLAYED.replace(month=12))


def test_values_are_shown_safely() -> None:
    assert shown_value(b'{"a": 1}') == {"encoding": "utf-8", "value": '{"a": 1}'}
    assert shown_value(b"\xff\xfe") == {"encoding": "base64", "value": "//4="}
