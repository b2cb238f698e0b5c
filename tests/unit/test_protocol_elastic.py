"""Elasticsearch _bulk bodies to items, and items back to Elasticsearch's own answer."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols import Refused
from app.domain.protocols.elastic import BulkItem, BulkOutcome, bulk_response, decode_bulk
from app.errors import BadBody
from app.models import FieldError, InvalidEvent, parse_event

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def ndjson(*lines: object) -> bytes:
    return b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines)


def decode(body: bytes, index: str | None = None) -> list[BulkItem]:
    return decode_bulk(body, index=index, received_at=NOW)


def test_index_and_create_carry_the_next_line_as_their_document() -> None:
    body = ndjson(
        {"index": {"_index": "app-logs", "_id": "1"}},
        {"message": "one", "level": "warn", "service": {"name": "api"}},
        {"create": {}},
        {"@timestamp": "2024-05-01T09:00:00Z", "message": "two"},
    )
    first, second = decode(body, index="from-url")
    assert (first.action, first.index, first.id) == ("index", "app-logs", "1")
    assert first.item == {"message": "one", "level": "warn", "source": "api", "timestamp": NOW.isoformat()}
    assert (second.action, second.index, second.id) == ("create", "from-url", None)
    assert second.item == {"message": "two", "timestamp": "2024-05-01T09:00:00Z", "source": "from-url"}


@pytest.mark.parametrize(
    ("index", "action", "expected"),
    [(None, {}, "logpipe"), ("url", {}, "url"), ("url", {"_index": "own"}, "own"), ("url", {"_index": ""}, "url")],
)
def test_index_comes_from_the_action_then_the_url_then_the_default(
    index: str | None, action: dict[str, str], expected: str
) -> None:
    (item,) = decode(ndjson({"create": action}, {"message": "m"}), index=index)
    assert item.index == expected
    assert isinstance(item.item, dict) and item.item["source"] == expected


@pytest.mark.parametrize(("raw_id", "expected"), [("a1", "a1"), (7, "7"), ("", None), (True, None), ({"x": 1}, None)])
def test_id_is_the_action_s_own(raw_id: object, expected: str | None) -> None:
    (item,) = decode(ndjson({"index": {"_id": raw_id}}, {"message": "m"}))
    assert item.id == expected


def test_update_and_delete_are_refused_per_item_and_update_takes_its_document_line() -> None:
    body = ndjson(
        {"update": {"_index": "i", "_id": "1"}},
        {"doc": {"message": "changed"}},
        {"delete": {"_index": "i", "_id": "2"}},
        {"index": {}},
        {"message": "kept"},
    )
    update, delete, index = decode(body)
    for refused, name in ((update, "update"), (delete, "delete")):
        assert refused.action == name
        assert isinstance(refused.item, Refused) and refused.item.field == "action"
        assert "only index and create are accepted" in refused.item.message
    assert isinstance(index.item, dict) and index.item["message"] == "kept"


@pytest.mark.parametrize(
    ("document", "rule"),
    [(b"not json", "json"), (b"[1, 2]", "object"), (b'"text"', "object")],
)
def test_a_document_that_is_no_json_object_is_refused_per_item(document: bytes, rule: str) -> None:
    first, second = decode(ndjson({"index": {}}, document, {"index": {}}, {"message": "ok"}))
    assert isinstance(first.item, Refused) and (first.item.field, first.item.rule) == ("event", rule)
    assert isinstance(second.item, dict)


def test_an_action_without_its_document_line_is_refused() -> None:
    (item,) = decode(ndjson({"create": {"_index": "i"}}))
    assert isinstance(item.item, Refused) and item.item.rule == "required"


@pytest.mark.parametrize(
    "broken",
    [b"{not json", b"[1]", b'{"index": {}, "create": {}}', b'{"upsert": {}}', b'{"index": "i"}'],
)
def test_a_broken_action_costs_one_item_with_its_document_and_resynchronises(broken: bytes) -> None:
    body = ndjson({"index": {}}, {"message": "a"}, broken, {"message": "b"}, {"create": {}}, {"message": "c"})
    items = decode(body)
    assert [item.item["message"] if isinstance(item.item, dict) else item.item.field for item in items] == [
        "a",
        "action",
        "c",
    ]
    assert items[1].action == "index"


def test_a_stray_line_before_an_action_costs_only_itself() -> None:
    items = decode(ndjson(b"garbage", {"index": {}}, {"message": "kept"}))
    assert [isinstance(item.item, Refused) for item in items] == [True, False]


def test_blank_lines_and_crlf_and_a_missing_final_newline_are_tolerated() -> None:
    body = b'\r\n{"index":{}}\r\n\r\n{"message":"m"}'
    (item,) = decode(body)
    assert isinstance(item.item, dict) and item.item["message"] == "m"


@pytest.mark.parametrize("body", [b"", b"\n\n", b"hello\nworld\n", b'{"message": "no action"}\n'])
def test_a_body_without_any_action_is_a_bad_body(body: bytes) -> None:
    with pytest.raises(BadBody) as caught:
        decode(body)
    assert caught.value.code == "no_actions"


def test_a_fluent_bit_action_with_a_type_is_accepted() -> None:
    action = {"create": {"_index": "fluent-bit", "_type": "_doc"}}
    body = ndjson(action, {"@timestamp": "2024-05-01T10:00:00Z", "log": "x"})
    (item,) = decode(body)
    assert isinstance(item.item, dict) and item.item["message"] == "x"


def outcome(action: str, index: str, doc_id: str | None, error: FieldError | None = None) -> BulkOutcome:
    return BulkOutcome(BulkItem(action, index, doc_id, {"message": "m"}), doc_id, error)


def test_all_created_is_elasticsearch_s_exact_bytes_with_keys_in_its_order() -> None:
    body = bulk_response([outcome("create", "logs", "a"), outcome("index", "logs", "b")], took_ms=7)
    assert body == (
        b'{"took":7,"errors":false,"items":['
        b'{"create":{"_index":"logs","_id":"a","_version":1,"result":"created",'
        b'"_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},'
        b'{"index":{"_index":"logs","_id":"b","_version":1,"result":"created",'
        b'"_shards":{"total":1,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201}}]}'
    )
    assert b'"errors":false,"items":[' in body  # what Fluent Bit looks for when it cannot parse a response


def test_refusals_carry_status_400_and_a_typed_error_naming_the_field_and_rule() -> None:
    refused_action = BulkItem("delete", "logs", "9", Refused("action", "one_of", "only index and create are accepted"))
    model_error = FieldError("message", "not_blank", "must not be empty or blank")
    outcomes = [outcome("create", "logs", "a", model_error), BulkOutcome(refused_action, "9")]
    outcomes.append(outcome("create", "l", "c"))
    body = orjson.loads(bulk_response(outcomes, took_ms=3))
    assert body["errors"] is True
    assert list(body) == ["took", "errors", "items"]
    first, second, third = body["items"]
    assert first == {
        "create": {
            "_index": "logs",
            "_id": "a",
            "status": 400,
            "error": {"type": "mapper_parsing_exception", "reason": "message: must not be empty or blank"},
        }
    }
    assert second["delete"]["error"] == {
        "type": "illegal_argument_exception",
        "reason": "action: only index and create are accepted",
    }
    assert third["create"]["_seq_no"] == 0
    assert list(third["create"]) == [
        "_index",
        "_id",
        "_version",
        "result",
        "_shards",
        "_seq_no",
        "_primary_term",
        "status",
    ]


def test_a_decoded_body_round_trips_to_a_response_with_one_item_per_action() -> None:
    items = decode(ndjson({"index": {}}, {"message": "ok"}, {"delete": {"_id": "x"}}, {"index": {}}, b"[]"))
    answer = orjson.loads(bulk_response([BulkOutcome(item, item.id) for item in items], took_ms=1))
    assert [next(iter(entry)) for entry in answer["items"]] == ["index", "delete", "index"]
    assert [next(iter(entry.values()))["status"] for entry in answer["items"]] == [201, 400, 400]


LINES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b'{"index":{}}', b'{"create":{"_index":"x"}}', b'{"delete":{}}', b'{"update":{}}', b"{}"]),
    st.builds(
        orjson.dumps,
        st.dictionaries(st.sampled_from(["message", "log", "level", "source", "ts"]), st.text(max_size=5), max_size=3),
    ),
)


@given(st.lists(LINES, max_size=8).map(b"\n".join))
def test_any_body_decodes_to_items_or_a_bad_body_and_every_event_meets_the_model_or_a_field_error(body: bytes) -> None:
    try:
        items = decode(body)
    except BadBody:
        return
    for item in items:
        assert item.action in ("index", "create", "update", "delete")
        if isinstance(item.item, dict):
            try:
                parse_event(item.item)
            except InvalidEvent:
                pass
    bulk_response([BulkOutcome(item, item.id) for item in items], took_ms=0)
