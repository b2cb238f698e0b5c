from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.domain.envelopes import pack, unpack


def test_pack_respects_the_byte_budget_and_keeps_every_event() -> None:
    events = [{"i": i, "message": "x" * 100} for i in range(1000)]
    envelopes = list(pack(events, 10_000))
    assert len(envelopes) > 10
    assert all(len(e) <= 10_000 for e in envelopes)
    assert [e for env in envelopes for e in unpack(env)] == events


def test_oversized_event_gets_an_envelope_of_its_own() -> None:
    events: list[dict[str, Any]] = [{"a": "x" * 50}, {"b": "y" * 500}, {"c": 1}]
    envelopes = list(pack(events, 100))
    assert [unpack(e) for e in envelopes] == [[events[0]], [events[1]], [events[2]]]


def test_nothing_in_nothing_out() -> None:
    assert list(pack([], 100)) == []


@pytest.mark.parametrize("value", [b"{}", b"[1]", b"nope", orjson.dumps([{"a": 1}, 2])])
def test_unpack_refuses_what_is_not_an_envelope(value: bytes) -> None:
    with pytest.raises(ValueError):
        unpack(value)
