"""OTLP/HTTP logs to events: one row per mapping rule, per error, and round trips."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from app.domain.protocols import Refused
from app.domain.protocols.otlp import DEFAULT_SOURCE, decode_logs
from app.errors import BadBody
from app.models import parse_event
from tests.support.items import events

RECEIVED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
PROTOBUF = "application/x-protobuf"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _text(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def _request(
    *records: LogRecord, resource: list[KeyValue] | None = None, scope: InstrumentationScope | None = None
) -> ExportLogsServiceRequest:
    resource = [_kv("service.name", _text("checkout"))] if resource is None else resource
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=resource),
                scope_logs=[ScopeLogs(scope=scope, log_records=list(records))],
            )
        ]
    )


def _decode_one(record: LogRecord, **kwargs: Any) -> Any:
    [item] = decode_logs(_request(record, **kwargs).SerializeToString(), PROTOBUF, received_at=RECEIVED)
    return item


def _record(**fields: Any) -> LogRecord:
    return LogRecord(**({"body": _text("disk full")} | fields))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_text("disk full"), "disk full"),
        (_text(" padded "), " padded "),
        (AnyValue(int_value=42), "42"),
        (AnyValue(double_value=1.5), "1.5"),
        (AnyValue(bool_value=False), "false"),
        (AnyValue(bytes_value=b"hi"), '"aGk="'),
        (AnyValue(array_value=ArrayValue(values=[_text("a"), AnyValue(int_value=1)])), '["a",1]'),
        (AnyValue(kvlist_value=KeyValueList(values=[_kv("user", _text("ann"))])), '{"user":"ann"}'),
    ],
    ids=["string", "untrimmed", "int", "double", "bool", "bytes", "array", "kvlist"],
)
def test_body_is_the_message(body: AnyValue, message: str) -> None:
    assert _decode_one(_record(body=body))["message"] == message


@pytest.mark.parametrize(
    "record",
    [
        LogRecord(),
        _record(body=AnyValue()),
        _record(body=_text("")),
        _record(body=AnyValue(array_value=ArrayValue())),
        _record(body=AnyValue(kvlist_value=KeyValueList())),
    ],
    ids=["absent", "unset", "empty-string", "empty-array", "empty-kvlist"],
)
def test_a_record_without_a_body_is_refused(record: LogRecord) -> None:
    refused = _decode_one(record)
    assert isinstance(refused, Refused)
    assert (refused.field, refused.rule) == ("body", "required")


@pytest.mark.parametrize(
    ("number", "text", "level", "kept"),
    [
        (1, "", "TRACE", None),
        (4, "", "TRACE", None),
        (5, "", "DEBUG", None),
        (8, "", "DEBUG", None),
        (9, "", "INFO", None),
        (12, "", "INFO", None),
        (13, "", "WARN", None),
        (16, "", "WARN", None),
        (17, "", "ERROR", None),
        (20, "", "ERROR", None),
        (21, "", "FATAL", None),
        (24, "", "FATAL", None),
        (17, "ERROR", "ERROR", None),
        (17, "Error", "ERROR", None),
        (9, "Information", "INFO", None),
        (9, "Verbose", "INFO", "Verbose"),
        (13, "error", "WARN", "error"),
        (0, "WARNING", "WARN", None),
        (0, "critical", "FATAL", None),
        (25, "err", "ERROR", None),
        (-3, "debug", "DEBUG", None),
        (0, "Information", "INFO", None),
        (0, "Verbose", "INFO", "Verbose"),
        (0, "", "INFO", None),
        (99, "", "INFO", None),
    ],
)
def test_severity(number: int, text: str, level: str, kept: str | None) -> None:
    item = _decode_one(_record(severity_number=number, severity_text=text))
    assert item["level"] == level
    assert (item["metadata"] or {}).get("severity_text") == kept


@pytest.mark.parametrize(
    ("resource", "source"),
    [
        ([_kv("service.name", _text("checkout"))], "checkout"),
        ([], DEFAULT_SOURCE),
        ([_kv("service.name", _text(""))], DEFAULT_SOURCE),
        ([_kv("service.name", AnyValue(int_value=7))], DEFAULT_SOURCE),
        ([_kv("service.namespace", _text("shop"))], DEFAULT_SOURCE),
    ],
    ids=["named", "absent", "empty", "not-a-string", "other-attribute"],
)
def test_source_is_the_service_name(resource: list[KeyValue], source: str) -> None:
    assert _decode_one(_record(), resource=resource)["source"] == source


@pytest.mark.parametrize(
    ("fields", "timestamp"),
    [
        ({"time_unix_nano": 1_544_712_660_300_000_999}, datetime(2018, 12, 13, 14, 51, 0, 300000, tzinfo=UTC)),
        (
            {"time_unix_nano": 1_544_712_660_300_001_000, "observed_time_unix_nano": 1},
            datetime(2018, 12, 13, 14, 51, 0, 300001, tzinfo=UTC),
        ),
        ({"observed_time_unix_nano": 1_000_000_000}, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
        ({}, RECEIVED),
        ({"time_unix_nano": 2**64 - 1}, datetime(2554, 7, 21, 23, 34, 33, 709551, tzinfo=UTC)),
    ],
    ids=["time", "time-over-observed", "observed", "receipt", "uint64-max"],
)
def test_timestamp(fields: dict[str, int], timestamp: datetime) -> None:
    value = _decode_one(_record(**fields))["timestamp"]
    assert value == timestamp
    assert value.tzinfo is not None


@pytest.mark.parametrize(
    ("trace_id", "span_id", "expected_trace", "expected_span"),
    [
        (TRACE, SPAN, TRACE.hex(), SPAN.hex()),
        (b"", b"", None, None),
        (bytes(16), bytes(8), None, None),
        (bytes.fromhex("00" * 15 + "01"), b"", "0" * 31 + "1", None),
    ],
    ids=["set", "empty", "all-zero", "leading-zeros"],
)
def test_trace_and_span_ids(
    trace_id: bytes, span_id: bytes, expected_trace: str | None, expected_span: str | None
) -> None:
    item = _decode_one(_record(trace_id=trace_id, span_id=span_id))
    assert item["trace_id"] == expected_trace
    assert (item["metadata"] or {}).get("span_id") == expected_span


def test_metadata_merges_record_over_scope_over_resource() -> None:
    record = _record(
        attributes=[
            _kv("layer", _text("record")),
            _kv("http", AnyValue(kvlist_value=KeyValueList(values=[_kv("status", AnyValue(int_value=500))]))),
        ]
    )
    scope = InstrumentationScope(
        name="my.library",
        version="1.0.0",
        attributes=[_kv("layer", _text("scope")), _kv("scope.only", _text("s"))],
    )
    resource = [_kv("service.name", _text("checkout")), _kv("layer", _text("resource")), _kv("host", _text("h1"))]
    assert _decode_one(record, resource=resource, scope=scope)["metadata"] == {
        "service.name": "checkout",
        "layer": "record",
        "host": "h1",
        "scope.only": "s",
        "http.status": 500,
        "otel.scope.name": "my.library",
        "otel.scope.version": "1.0.0",
    }


def test_decoder_keys_win_over_attributes_of_the_same_name() -> None:
    record = _record(span_id=SPAN, attributes=[_kv("span_id", _text("forged"))])
    assert _decode_one(record)["metadata"]["span_id"] == SPAN.hex()


def test_no_metadata_is_none() -> None:
    assert _decode_one(_record(), resource=[])["metadata"] is None


def test_items_keep_the_order_resource_scope_record() -> None:
    def scope(*messages: str) -> ScopeLogs:
        return ScopeLogs(log_records=[_record(body=_text(m)) for m in messages])

    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=[_kv("service.name", _text("a"))]),
                scope_logs=[scope("1", "2"), scope("3")],
            ),
            ResourceLogs(resource=Resource(attributes=[_kv("service.name", _text("b"))]), scope_logs=[scope("4")]),
        ]
    )
    items = events(decode_logs(request.SerializeToString(), PROTOBUF, received_at=RECEIVED))
    assert [(i["source"], i["message"]) for i in items] == [("a", "1"), ("a", "2"), ("a", "3"), ("b", "4")]


def test_an_empty_request_has_no_items() -> None:
    assert decode_logs(b"", PROTOBUF, received_at=RECEIVED) == []
    assert decode_logs(b"{}", "application/json", received_at=RECEIVED) == []


def test_every_item_is_an_event_parse_event_accepts() -> None:
    record = _record(severity_text="Information", trace_id=TRACE, span_id=SPAN, time_unix_nano=1)
    item = _decode_one(record, scope=InstrumentationScope(name="lib"))
    event = parse_event(item)
    assert (event.level, event.source, event.trace_id) == ("INFO", "checkout", TRACE.hex())


# OTLP/JSON: the shape of open-telemetry/opentelemetry-proto examples/logs.json (every AnyValue
# kind, upper-case hex ids, an integer timeUnixNano, a severityText that is no level word).
SPEC_SHAPED = {
    "resourceLogs": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
            "scopeLogs": [
                {
                    "scope": {
                        "name": "my.library",
                        "version": "1.0.0",
                        "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "some scope attribute"}}],
                    },
                    "logRecords": [
                        {
                            "timeUnixNano": 1544712660300000000,
                            "observedTimeUnixNano": 1544712660300000000,
                            "severityText": "Information",
                            "traceId": "5B8EFFF798038103D269B633813FC60C",
                            "spanId": "EEE19B7EC3C1B174",
                            "body": {"stringValue": "Example log record"},
                            "attributes": [
                                {"key": "string.attribute", "value": {"stringValue": "some string"}},
                                {"key": "boolean.attribute", "value": {"boolValue": True}},
                                {"key": "int.attribute", "value": {"intValue": 10}},
                                {"key": "double.attribute", "value": {"doubleValue": 637.704}},
                                {
                                    "key": "array.attribute",
                                    "value": {
                                        "arrayValue": {"values": [{"stringValue": "many"}, {"stringValue": "values"}]}
                                    },
                                },
                                {
                                    "key": "map.attribute",
                                    "value": {
                                        "kvlistValue": {
                                            "values": [{"key": "some.map.key", "value": {"stringValue": "some value"}}]
                                        }
                                    },
                                },
                            ],
                        }
                    ],
                }
            ],
        }
    ]
}
SPEC_SHAPED_EVENT = {
    "message": "Example log record",
    "level": "INFO",
    "source": "my.service",
    "timestamp": datetime(2018, 12, 13, 14, 51, 0, 300000, tzinfo=UTC),
    "trace_id": "5b8efff798038103d269b633813fc60c",
    "metadata": {
        "service.name": "my.service",
        "my.scope.attribute": "some scope attribute",
        "string.attribute": "some string",
        "boolean.attribute": True,
        "int.attribute": 10,
        "double.attribute": 637.704,
        "array.attribute": ["many", "values"],
        "map.attribute.some.map.key": "some value",
        "otel.scope.name": "my.library",
        "otel.scope.version": "1.0.0",
        "span_id": "eee19b7ec3c1b174",
    },
}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON ;charset=UTF-8"],
)
def test_spec_shaped_json(content_type: str) -> None:
    assert decode_logs(orjson.dumps(SPEC_SHAPED), content_type, received_at=RECEIVED) == [SPEC_SHAPED_EVENT]


def _to_otlp_json(request: ExportLogsServiceRequest) -> dict[str, Any]:
    """What an OTLP/JSON exporter sends: protobuf's JSON mapping with hex ids."""
    document: dict[str, Any] = json_format.MessageToDict(request)
    for resource_logs in document.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                for name in ("traceId", "spanId"):
                    if name in record:
                        record[name] = base64.b64decode(record[name]).hex()
    return document


def test_json_and_protobuf_give_the_same_items() -> None:
    request = ExportLogsServiceRequest()
    json_format.ParseDict(_strip_ids(SPEC_SHAPED), request)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    record.trace_id, record.span_id, record.severity_number = TRACE, SPAN, 17
    as_json = orjson.dumps(_to_otlp_json(request))
    # MessageToDict writes the enum by name and 64-bit integers as strings; the ids as an exporter would, in hex.
    assert b'"SEVERITY_NUMBER_ERROR"' in as_json
    assert b'"1544712660300000000"' in as_json
    assert TRACE.hex().encode() in as_json
    from_json = decode_logs(as_json, "application/json", received_at=RECEIVED)
    from_protobuf = decode_logs(request.SerializeToString(), PROTOBUF, received_at=RECEIVED)
    assert from_json == from_protobuf
    assert events(from_json)[0]["level"] == "ERROR"


def _strip_ids(document: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = orjson.loads(orjson.dumps(document))
    for record in copy["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        record.pop("traceId")
        record.pop("spanId")
    return copy


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"severityNumber": 17}, "ERROR"),
        ({"severityNumber": "SEVERITY_NUMBER_WARN"}, "WARN"),
        ({"timeUnixNano": "1000000000"}, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
        ({"time_unix_nano": 1000000000}, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)),
        ({"trace_id": "5B8EFFF798038103D269B633813FC60C"}, TRACE.hex()),
        ({"traceId": ""}, None),
        ({"spanId": "eee19b7ec3c1b174"}, SPAN.hex()),
        ({"unknownField": {"x": 1}}, "INFO"),
    ],
    ids=["enum-int", "enum-name", "int64-string", "snake-case", "snake-case-hex", "empty-id", "span", "unknown"],
)
def test_json_encodings(record: dict[str, Any], expected: Any) -> None:
    document = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "m"}} | record]}]}]}
    [item] = events(decode_logs(orjson.dumps(document), "application/json", received_at=RECEIVED))
    got = {
        "severityNumber": item["level"],
        "timeUnixNano": item["timestamp"],
        "time_unix_nano": item["timestamp"],
        "trace_id": item["trace_id"],
        "traceId": item["trace_id"],
        "spanId": (item["metadata"] or {}).get("span_id"),
        "unknownField": item["level"],
    }[next(iter(record))]
    assert got == expected


def _log_json(record: dict[str, Any]) -> bytes:
    return orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]})


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"{}", "text/plain", "unsupported_media_type"),
        (b"{}", "", "unsupported_media_type"),
        (b"{}", "application/protobuf", "unsupported_media_type"),
        (b"\x0a\x05abc", PROTOBUF, "invalid_protobuf"),
        (b"\xff\xff\xff", PROTOBUF, "invalid_protobuf"),
        (b"{", "application/json", "invalid_json"),
        (b"[]", "application/json", "invalid_json"),
        (b"null", "application/json", "invalid_json"),
        (b'"x"', "application/json", "invalid_json"),
        (b"\xff", "application/json", "invalid_json"),
        (b'{"resourceLogs": 5}', "application/json", "invalid_json"),
        (_log_json({"traceId": "not hex"}), "application/json", "invalid_json"),
        (_log_json({"traceId": "abc"}), "application/json", "invalid_json"),
        (_log_json({"spanId": "W47/95gDgQPSabYzgT/GDA=="}), "application/json", "invalid_json"),
        (_log_json({"traceId": 5}), "application/json", "invalid_json"),
        (_log_json({"timeUnixNano": 1.5}), "application/json", "invalid_json"),
    ],
    ids=[
        "text",
        "no-type",
        "unlisted-protobuf-type",
        "truncated",
        "garbage",
        "syntax",
        "array",
        "null",
        "string",
        "not-utf8",
        "wrong-shape",
        "id-not-hex",
        "id-odd-length",
        "id-base64",
        "id-number",
        "float-time",
    ],
)
def test_unreadable_bodies(body: bytes, content_type: str, code: str) -> None:
    with pytest.raises(BadBody) as caught:
        decode_logs(body, content_type, received_at=RECEIVED)
    assert caught.value.code == code
    assert caught.value.message


def test_a_string_for_a_message_is_read_as_an_empty_one() -> None:
    # json_format with ignore_unknown_fields iterates a string as an object whose keys
    # are its characters, and ignores them all: the record arrives with an empty body.
    [refused] = decode_logs(_log_json({"body": "text"}), "application/json", received_at=RECEIVED)
    assert isinstance(refused, Refused) and (refused.field, refused.rule) == ("body", "required")


@given(st.binary(max_size=512), st.sampled_from([PROTOBUF, "application/json"]))
def test_arbitrary_bytes_raise_only_bad_body(body: bytes, content_type: str) -> None:
    try:
        decode_logs(body, content_type, received_at=RECEIVED)
    except BadBody:
        pass


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json_any = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_names = st.sampled_from(
    (
        "resourceLogs scopeLogs logRecords resource scope attributes body traceId spanId stringValue kvlistValue"
        " arrayValue values key value severityNumber timeUnixNano"
    ).split()
)
_otlp_like = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names | st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


@given(_json_any | _otlp_like)
def test_arbitrary_json_raises_only_bad_body(document: Any) -> None:
    try:
        body = orjson.dumps(document)
    except orjson.JSONEncodeError:
        return
    try:
        decode_logs(body, "application/json", received_at=RECEIVED)
    except BadBody:
        pass
