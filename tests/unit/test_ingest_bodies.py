"""Request bodies: one event, JSON arrays and NDJSON, with per-item errors."""

from __future__ import annotations

import orjson
import pytest

from app.domain.bodies import parse_batch, parse_single
from app.errors import BadBody
from app.models import InvalidEvent

GOOD = {"message": "m", "source": "s"}


def test_single_event() -> None:
    assert parse_single(orjson.dumps({**GOOD, "level": "warning"})).level == "WARN"


@pytest.mark.parametrize(("body", "code"), [(b"nope", "invalid_json"), (b"", "invalid_json")])
def test_single_bad_body(body: bytes, code: str) -> None:
    with pytest.raises(BadBody) as caught:
        parse_single(body)
    assert caught.value.code == code


def test_single_invalid_event() -> None:
    with pytest.raises(InvalidEvent):
        parse_single(orjson.dumps({"message": ""}))


def test_batch_array_with_mixed_items() -> None:
    body = orjson.dumps([GOOD, {"message": "", "source": "s"}, [1], {**GOOD, "level": "nope"}, GOOD])
    outcome = parse_batch(body, ndjson=False, max_items=10)
    assert len(outcome.events) == 2
    assert [(e["index"], e["field"], e["rule"]) for e in outcome.errors] == [
        (1, "message", "not_blank"),
        (2, "event", "object"),
        (3, "level", "one_of"),
    ]


def test_batch_ndjson_with_a_broken_line() -> None:
    body = b'{"message": "a", "source": "s"}\n\nnot json\n{"message": "b", "source": "s"}\n'
    outcome = parse_batch(body, ndjson=True, max_items=10)
    assert [e.message for e in outcome.events] == ["a", "b"]
    assert [(e["index"], e["rule"]) for e in outcome.errors] == [(1, "json")]
    assert "line 3" in outcome.errors[0]["message"]


@pytest.mark.parametrize(
    ("body", "ndjson", "code"),
    [
        (orjson.dumps(GOOD), False, "not_an_array"),
        (b"[", False, "invalid_json"),
        (orjson.dumps([GOOD] * 11), False, "too_many_items"),
        (b"\n".join([orjson.dumps(GOOD)] * 11), True, "too_many_items"),
    ],
)
def test_batch_bad_bodies(body: bytes, ndjson: bool, code: str) -> None:
    with pytest.raises(BadBody) as caught:
        parse_batch(body, ndjson=ndjson, max_items=10)
    assert caught.value.code == code


def test_a_tenant_key_stamps_its_organization_and_refuses_another() -> None:
    event = parse_single(b'{"message": "m", "source": "s"}', tenant="acme")
    assert event.organization_id == "acme"
    same = parse_single(b'{"message": "m", "source": "s", "organizationId": "acme"}', tenant="acme")
    assert same.organization_id == "acme"
    with pytest.raises(InvalidEvent) as caught:
        parse_single(b'{"message": "m", "source": "s", "organization_id": "globex"}', tenant="acme")
    assert [e.as_dict()["rule"] for e in caught.value.errors] == ["tenant"]
    assert caught.value.errors[0].field == "organization_id"


def test_a_tenant_batch_refuses_only_the_items_claiming_another_organization() -> None:
    body = b'[{"message": "a", "source": "s"}, {"message": "b", "source": "s", "organization_id": "globex"}]'
    outcome = parse_batch(body, ndjson=False, max_items=10, tenant="acme")
    assert [e.organization_id for e in outcome.events] == ["acme"]
    assert [(e["index"], e["field"], e["rule"]) for e in outcome.errors] == [(1, "organization_id", "tenant")]
