"""Cached answers keep the time they were made, and a value in no form we wrote is a miss."""

from __future__ import annotations

import pytest

from app.storage.cache import CachedAnswer, pack_answer, unpack_answer


@pytest.mark.parametrize("body", [b"", b"{}", b'{"content": []}', bytes(range(256)) * 4])
def test_an_answer_round_trips_with_its_time(body: bytes) -> None:
    answer = CachedAnswer(body, 1_765_000_000.125)
    assert unpack_answer(pack_answer(answer)) == answer


@pytest.mark.parametrize(
    "value",
    [b'{"content": []}', b"", b"\x00lpa1", b"\x00lpa1\x00\x00", b"\x00lpa2" + b"\x00" * 8 + b"{}"],
    ids=["an answer stored before answers had a time", "empty", "tag only", "short stamp", "another version"],
)
def test_a_value_in_no_form_we_wrote_is_a_miss(value: bytes) -> None:
    assert unpack_answer(value) is None


@pytest.mark.parametrize(("made_at", "now", "age"), [(100.0, 160.5, 60.5), (100.0, 100.0, 0.0), (100.0, 99.0, 0.0)])
def test_age_is_never_negative(made_at: float, now: float, age: float) -> None:
    # Workers' clocks differ a little: an answer "from the future" is simply new.
    assert CachedAnswer(b"{}", made_at).age(now) == age
