"""Loki push bodies to events: one row per mapping rule, per error, and round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import cramjam
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols import Refused
from app.domain.protocols.loki import SOURCE_LABELS, decode_push
from app.domain.protocols.loki_pb import EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter
from app.errors import BadBody, BodyTooLarge
from app.models import parse_event
from tests.support.items import events

RECEIVED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
JSON = "application/json"
PROTOBUF = "application/x-protobuf"
NS = "1700000000123456789"
AT = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)


def _push(labels: dict[str, str], *values: list[Any]) -> bytes:
    return orjson.dumps({"streams": [{"stream": labels, "values": list(values)}]})


def _one(labels: dict[str, str], value: list[Any] | None = None) -> Any:
    [item] = decode_push(_push(labels, value or [NS, "disk full"]), JSON, received_at=RECEIVED, max_bytes=1 << 20)
    return item


def _snappy(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def _decode_protobuf(request: Any, max_bytes: int = 1 << 20) -> list[Any]:
    body = _snappy(request.SerializeToString())
    return decode_push(body, PROTOBUF, received_at=RECEIVED, max_bytes=max_bytes)


@pytest.mark.parametrize(
    ("labels", "source"),
    [
        ({"source": "s"}, "s"),
        ({"service_name": "sn"}, "sn"),
        ({"service": "sv"}, "sv"),
        ({"app": "a"}, "a"),
        ({"job": "j"}, "j"),
        ({"job": "j", "app": "a", "service": "sv", "service_name": "sn", "source": "s"}, "s"),
        ({"job": "j", "app": "a"}, "a"),
        ({"source": "", "job": "j"}, "j"),
    ],
    ids=["source", "service_name", "service", "app", "job", "source-first", "app-before-job", "empty-skipped"],
)
def test_source_label(labels: dict[str, str], source: str) -> None:
    item = _one(labels)
    assert item["source"] == source
    assert source not in (item["metadata"] or {}).values()


@pytest.mark.parametrize("labels", [{}, {"env": "prod"}, {"job": ""}], ids=["none", "other", "empty"])
def test_a_stream_without_a_source_has_each_entry_refused(labels: dict[str, str]) -> None:
    body = _push(labels, [NS, "a"], [NS, "b"], ["bad", "c"])
    items = decode_push(body, JSON, received_at=RECEIVED, max_bytes=1 << 20)
    assert len(items) == 3
    for item in items:
        assert isinstance(item, Refused)
        assert (item.field, item.rule) == ("stream", "source")
        assert all(name in item.message for name in SOURCE_LABELS)


@pytest.mark.parametrize(
    ("labels", "structured", "level", "metadata"),
    [
        ({"level": "error"}, {}, "ERROR", None),
        ({"severity": "warning"}, {}, "WARN", None),
        ({"detected_level": "debug"}, {}, "DEBUG", None),
        ({}, {"level": "fatal"}, "FATAL", None),
        ({}, {"detected_level": "critical"}, "FATAL", None),
        ({"level": "error"}, {"level": "debug"}, "ERROR", {"level_extracted": "debug"}),
        ({"severity": "error"}, {"level": "debug"}, "ERROR", {"level": "debug"}),
        ({"level": "error", "severity": "info"}, {}, "ERROR", {"severity": "info"}),
        ({"level": "verbose"}, {}, "INFO", {"level": "verbose"}),
        ({"level": "verbose"}, {"detected_level": "warn"}, "WARN", {"level": "verbose"}),
        ({}, {"level": "noise"}, "INFO", {"level": "noise"}),
        ({}, {}, "INFO", None),
    ],
    ids=[
        "level",
        "severity",
        "detected_level",
        "structured",
        "structured-detected",
        "label-over-structured",
        "label-order",
        "first-wins",
        "unknown-kept",
        "unknown-then-known",
        "unknown-structured",
        "none",
    ],
)
def test_level(labels: dict[str, str], structured: dict[str, str], level: str, metadata: Any) -> None:
    item = _one({"job": "api"} | labels, [NS, "m", structured])
    assert (item["level"], item["metadata"]) == (level, metadata)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (NS, AT),
        (int(NS), AT),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
        ("-1000", datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("9223372036854775807", datetime(2262, 4, 11, 23, 47, 16, 854775, tzinfo=UTC)),
    ],
    ids=["string", "int", "zero", "negative", "int64-max"],
)
def test_timestamp(timestamp: Any, expected: datetime) -> None:
    assert _one({"job": "api"}, [timestamp, "m"])["timestamp"] == expected


@pytest.mark.parametrize(
    ("timestamp", "rule"),
    [
        ("2023-11-14T22:13:20Z", "ns_epoch"),
        ("1.5", "ns_epoch"),
        ("", "ns_epoch"),
        ("12345678901234567890", "ns_epoch"),
        (1.7e18, "ns_epoch"),
        (True, "ns_epoch"),
        (None, "ns_epoch"),
    ],
    ids=["iso", "fraction", "empty", "twenty-digits", "float", "bool", "null"],
)
def test_a_bad_timestamp_refuses_the_entry(timestamp: Any, rule: str) -> None:
    body = _push({"job": "a"}, [NS, "ok"], [timestamp, "bad"])
    items = decode_push(body, JSON, received_at=RECEIVED, max_bytes=4096)
    assert events(items[:1])[0]["message"] == "ok"
    assert isinstance(items[1], Refused)
    assert (items[1].field, items[1].rule) == ("timestamp", rule)


@pytest.mark.parametrize("seconds", [253402300800, -62135596801, 2**63 - 1], ids=["year-10000", "year-0", "int64-max"])
def test_a_protobuf_timestamp_out_of_range_refuses_the_entry(seconds: int) -> None:
    entry = EntryAdapter(line=b"m")
    entry.timestamp.seconds = seconds
    [refused] = _decode_protobuf(PushRequest(streams=[StreamAdapter(labels=b'{job="a"}', entries=[entry])]))
    assert refused == Refused("timestamp", "range", refused.message)


def test_a_line_that_is_not_a_string_refuses_the_entry() -> None:
    refused = _one({"job": "a"}, [NS, 5])
    assert isinstance(refused, Refused)
    assert (refused.field, refused.rule) == ("message", "type")


@pytest.mark.parametrize(
    ("labels", "structured", "metadata"),
    [
        ({"job": "api", "env": "prod", "host": "h1"}, {}, {"env": "prod", "host": "h1"}),
        ({"job": "api"}, {"trace_id": "abc", "user": "ann"}, {"trace_id": "abc", "user": "ann"}),
        ({"job": "api", "env": "prod"}, {"env": "dev"}, {"env": "prod", "env_extracted": "dev"}),
        ({"job": "api"}, {"job": "other"}, {"job_extracted": "other"}),
        ({"job": "api", "env": ""}, {"empty": ""}, {"empty": ""}),
        ({"job": "api"}, {}, None),
    ],
    ids=["labels", "structured", "clash", "clash-with-source", "empty-label-dropped", "none"],
)
def test_metadata(labels: dict[str, str], structured: dict[str, str], metadata: Any) -> None:
    assert _one(labels, [NS, "m", structured])["metadata"] == metadata


def test_items_keep_stream_then_entry_order() -> None:
    body = orjson.dumps(
        {
            "streams": [
                {"stream": {"job": "a"}, "values": [[NS, "1"], [NS, "2"]]},
                {"stream": {"job": "b"}, "values": [[NS, "3"]]},
                {"stream": {"job": "c"}, "values": []},
            ]
        }
    )
    items = events(decode_push(body, JSON, received_at=RECEIVED, max_bytes=4096))
    assert [(i["source"], i["message"]) for i in items] == [("a", "1"), ("a", "2"), ("b", "3")]


def test_every_item_is_an_event_parse_event_accepts() -> None:
    event = parse_event(_one({"job": "api", "level": "warning", "env": "prod"}, [NS, "m", {"user": "ann"}]))
    assert (event.level, event.source, event.timestamp, event.metadata) == (
        "WARN",
        "api",
        AT,
        {"env": "prod", "user": "ann"},
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "invalid_json"),
        (b"\xff", "invalid_json"),
        (b"[]", "invalid_push"),
        (b'{"streams": {}}', "invalid_push"),
        (b'{"streams": [5]}', "invalid_push"),
        (b'{"streams": [{"stream": {"job": "a"}}]}', "invalid_push"),
        (b'{"streams": [{"labels": "{job=\\"a\\"}", "entries": []}]}', "invalid_push"),
        (b'{"streams": [{"stream": {"job": "a"}, "values": {}}]}', "invalid_push"),
        (b'{"streams": [{"stream": ["job"], "values": []}]}', "invalid_push"),
        (b'{"streams": [{"stream": {"job": 1}, "values": []}]}', "invalid_push"),
        (_push({"job": "a"}, [NS]), "invalid_push"),
        (_push({"job": "a"}, [NS, "m", {}, 4]), "invalid_push"),
        (_push({"job": "a"}, [NS, "m", {"k": 1}]), "invalid_push"),
        (_push({"job": "a"}, [NS, "m", ["k"]]), "invalid_push"),
        (orjson.dumps({"streams": [{"stream": {"job": "a"}, "values": [NS]}]}), "invalid_push"),
    ],
    ids=[
        "syntax",
        "not-utf8",
        "array",
        "streams-object",
        "stream-number",
        "no-values",
        "legacy-entries",
        "values-object",
        "labels-array",
        "label-number",
        "short-entry",
        "long-entry",
        "structured-number",
        "structured-array",
        "entry-string",
    ],
)
def test_unreadable_json(body: bytes, code: str) -> None:
    with pytest.raises(BadBody) as caught:
        decode_push(body, JSON, received_at=RECEIVED, max_bytes=4096)
    assert caught.value.code == code


def test_no_streams_no_items() -> None:
    assert decode_push(b"{}", JSON, received_at=RECEIVED, max_bytes=4096) == []
    assert decode_push(_snappy(b""), PROTOBUF, received_at=RECEIVED, max_bytes=4096) == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "", "application/protobuf", "application/x-www-form-urlencoded"]
)
def test_unsupported_media_type(content_type: str) -> None:
    with pytest.raises(BadBody) as caught:
        decode_push(b"{}", content_type, received_at=RECEIVED, max_bytes=4096)
    assert caught.value.code == "unsupported_media_type"


@pytest.mark.parametrize("content_type", [JSON, "application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_media_type_parameters(content_type: str) -> None:
    assert len(decode_push(_push({"job": "a"}, [NS, "m"]), content_type, received_at=RECEIVED, max_bytes=4096)) == 1


# One push encoded by hand from the field numbers of grafana/loki pkg/push/push.proto, then
# wrapped as a snappy block of one literal, so neither our classes nor cramjam build it.
_TIMESTAMP = b"\x08\x01" + b"\x10\x02"  # seconds = 1, nanos = 2
_PAIR = b"\x0a\x01k" + b"\x12\x01v"  # name = "k", value = "v"
_ENTRY = b"\x0a\x04" + _TIMESTAMP + b"\x12\x02hi" + b"\x1a\x06" + _PAIR  # timestamp, line, structuredMetadata
_STREAM = b'\x0a\x09{job="a"}' + b"\x12\x12" + _ENTRY + b"\x18\x07"  # labels, entries, hash = 7
_REQUEST = b"\x0a\x21" + _STREAM  # streams
HAND_ENCODED = bytes([len(_REQUEST), (len(_REQUEST) - 1) << 2]) + _REQUEST


def test_a_hand_encoded_push() -> None:
    assert len(_REQUEST) == 35
    assert decode_push(HAND_ENCODED, PROTOBUF, received_at=RECEIVED, max_bytes=4096) == [
        {
            "message": "hi",
            "level": "INFO",
            "source": "a",
            "timestamp": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
            "trace_id": None,
            "metadata": {"k": "v"},
        }
    ]


def test_the_runtime_classes_encode_the_hand_encoded_push() -> None:
    entry = EntryAdapter(line=b"hi", structuredMetadata=[LabelPairAdapter(name=b"k", value=b"v")])
    entry.timestamp.seconds, entry.timestamp.nanos = 1, 2
    request = PushRequest(streams=[StreamAdapter(labels=b'{job="a"}', entries=[entry], hash=7)])
    assert request.SerializeToString() == _REQUEST


def _protobuf_twin(labels: str, *entries: tuple[str, str, dict[str, str]]) -> Any:
    stream = StreamAdapter(labels=labels.encode())
    for nanos, line, structured in entries:
        entry = stream.entries.add(line=line.encode())
        entry.timestamp.seconds, entry.timestamp.nanos = divmod(int(nanos), 1_000_000_000)
        for name, value in structured.items():
            entry.structuredMetadata.add(name=name.encode(), value=value.encode())
    return PushRequest(streams=[stream])


def test_json_and_protobuf_give_the_same_items() -> None:
    labels = {"app": "shop", "level": "warn", "path": 'C:\\logs "new"\n'}
    entries = [(NS, "first", {}), ("1700000001000000000", "second", {"user": "ann", "detected_level": "error"})]
    as_json = _push(labels, *([ns, line, sm] for ns, line, sm in entries))
    label_string = "{" + ", ".join(f"{k}={json.dumps(v)}" for k, v in labels.items()) + "}"
    from_json = decode_push(as_json, JSON, received_at=RECEIVED, max_bytes=4096)
    assert from_json == _decode_protobuf(_protobuf_twin(label_string, *entries))
    assert events(from_json)[0]["metadata"] == {"path": 'C:\\logs "new"\n'}


def test_protobuf_without_a_timestamp_was_received_now() -> None:
    request = PushRequest(streams=[StreamAdapter(labels=b'{job="a"}', entries=[EntryAdapter(line=b"m")])])
    assert _decode_protobuf(request)[0]["timestamp"] == RECEIVED


def test_protobuf_replaces_bytes_that_are_not_utf8() -> None:
    request = PushRequest(streams=[StreamAdapter(labels=b'{job="a\xff"}', entries=[EntryAdapter(line=b"m\xffn")])])
    [item] = _decode_protobuf(request)
    assert (item["source"], item["message"]) == ("a\ufffd", "m\ufffdn")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "invalid_snappy"),
        (_REQUEST, "invalid_snappy"),
        (_snappy(b"\xff\xff\xff"), "invalid_protobuf"),
        (_snappy(b"\x0a\x05abc"), "invalid_protobuf"),
        (_snappy(PushRequest(streams=[StreamAdapter(labels=b"job=a")]).SerializeToString()), "invalid_labels"),
        (_snappy(b"\x00" * 100), "invalid_protobuf"),
    ],
    ids=["empty", "not-snappy", "garbage", "truncated", "bad-labels", "zeros"],
)
def test_unreadable_protobuf(body: bytes, code: str) -> None:
    with pytest.raises(BadBody) as caught:
        decode_push(body, PROTOBUF, received_at=RECEIVED, max_bytes=4096)
    assert caught.value.code == code


def test_protobuf_over_the_limit_is_too_large() -> None:
    request = _protobuf_twin('{job="a"}', (NS, "x" * 1000, {}))
    with pytest.raises(BodyTooLarge):
        _decode_protobuf(request, max_bytes=1000)


@given(st.binary(max_size=512), st.sampled_from([PROTOBUF, JSON]))
def test_arbitrary_bytes_raise_only_bad_body(body: bytes, content_type: str) -> None:
    try:
        decode_push(body, content_type, received_at=RECEIVED, max_bytes=4096)
    except BadBody:
        pass


@given(st.binary(max_size=256))
def test_arbitrary_snappy_wrapped_bytes_raise_only_bad_body(payload: bytes) -> None:
    try:
        decode_push(_snappy(payload), PROTOBUF, received_at=RECEIVED, max_bytes=4096)
    except BadBody:
        pass


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_names = st.sampled_from(["streams", "stream", "values", "job", "level", "app"]) | st.text(max_size=4)
_loki_like = st.recursive(
    _json_leaf | st.from_regex(r"-?[0-9]{1,22}", fullmatch=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_names, inner, max_size=4),
    max_leaves=30,
)


@given(_loki_like)
def test_arbitrary_json_raises_only_bad_body(document: Any) -> None:
    try:
        body = orjson.dumps(document)
    except orjson.JSONEncodeError:
        return
    try:
        decode_push(body, JSON, received_at=RECEIVED, max_bytes=4096)
    except BadBody:
        pass
