"""Shippers' JSON shapes to logpipe's fields: one row per alias, per precedence pair, per real shipper."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols.shapes import from_shipper
from app.models import InvalidEvent, parse_event

BASE = {"message": "m", "source": "s"}


@pytest.mark.parametrize(
    ("field", "document", "value"),
    [
        ("message", {"message": "a"}, "a"),
        ("message", {"msg": "a"}, "a"),
        ("message", {"log": "a"}, "a"),
        ("message", {"short_message": "a"}, "a"),
        ("message", {"event": "a"}, "a"),
        ("timestamp", {"timestamp": "2024-05-01T10:00:00Z"}, "2024-05-01T10:00:00Z"),
        ("timestamp", {"@timestamp": "2024-05-01T10:00:00Z"}, "2024-05-01T10:00:00Z"),
        ("timestamp", {"time": "2024-05-01T10:00:00Z"}, "2024-05-01T10:00:00Z"),
        ("timestamp", {"ts": 1714557600}, "2024-05-01T10:00:00+00:00"),
        ("timestamp", {"date": 1714557600.25}, "2024-05-01T10:00:00.250000+00:00"),
        ("level", {"level": "warn"}, "warn"),
        ("level", {"logLevel": "warn"}, "warn"),
        ("level", {"log_level": "warn"}, "warn"),
        ("level", {"log.level": "warn"}, "warn"),
        ("level", {"log": {"level": "warn"}}, "warn"),
        ("level", {"severity": "warn"}, "warn"),
        ("level", {"levelname": "warn"}, "warn"),
        ("level", {"lvl": "warn"}, "warn"),
        ("source", {"source": "a"}, "a"),
        ("source", {"service.name": "a"}, "a"),
        ("source", {"service": {"name": "a"}}, "a"),
        ("source", {"service": "a"}, "a"),
        ("source", {"app": "a"}, "a"),
        ("source", {"kubernetes.container_name": "a"}, "a"),
        ("source", {"kubernetes": {"container_name": "a"}}, "a"),
        ("source", {"host.name": "a"}, "a"),
        ("source", {"host": {"name": "a"}}, "a"),
        ("source", {"host": "a"}, "a"),
        ("source", {"hostname": "a"}, "a"),
        ("source", {"logger": "a"}, "a"),
        ("source", {"name": "a"}, "a"),
        ("trace_id", {"trace_id": "t"}, "t"),
        ("trace_id", {"traceId": "t"}, "t"),
        ("trace_id", {"trace.id": "t"}, "t"),
        ("trace_id", {"trace": {"id": "t"}}, "t"),
        ("organization_id", {"organization_id": "o"}, "o"),
        ("organization_id", {"organizationId": "o"}, "o"),
        ("id", {"id": "0b9c2a52-9f4e-4a5e-8a39-5e9d6c1a2b3c"}, "0b9c2a52-9f4e-4a5e-8a39-5e9d6c1a2b3c"),
    ],
)
def test_each_alias_fills_its_field_and_leaves_metadata(field: str, document: dict[str, Any], value: Any) -> None:
    event = from_shipper(document)
    assert event[field] == value
    assert "metadata" not in event


@pytest.mark.parametrize(
    ("field", "winner", "loser"),
    [
        ("message", "message", "msg"),
        ("message", "msg", "log"),
        ("message", "log", "short_message"),
        ("message", "short_message", "event"),
        ("timestamp", "timestamp", "@timestamp"),
        ("timestamp", "@timestamp", "time"),
        ("timestamp", "time", "ts"),
        ("timestamp", "ts", "date"),
        ("level", "level", "logLevel"),
        ("level", "logLevel", "log_level"),
        ("level", "log_level", "log.level"),
        ("level", "log.level", "severity"),
        ("level", "severity", "levelname"),
        ("level", "levelname", "lvl"),
        ("source", "source", "service.name"),
        ("source", "service.name", "service"),
        ("source", "service", "app"),
        ("source", "app", "kubernetes.container_name"),
        ("source", "kubernetes.container_name", "host.name"),
        ("source", "host.name", "host"),
        ("source", "host", "hostname"),
        ("source", "hostname", "logger"),
        ("source", "logger", "name"),
        ("trace_id", "trace_id", "traceId"),
        ("trace_id", "traceId", "trace.id"),
        ("organization_id", "organization_id", "organizationId"),
    ],
)
def test_precedence_pairs_the_loser_stays_in_metadata(field: str, winner: str, loser: str) -> None:
    values = {"timestamp": ("2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z")}.get(field, ("first", "second"))
    event = from_shipper({loser: values[1], winner: values[0]})
    assert event[field] == values[0]
    assert event["metadata"] == {loser: values[1]}


def test_dotted_key_beats_nested_object_and_an_emptied_object_is_dropped() -> None:
    event = from_shipper({"log.level": "error", "log": {"level": "info"}, "service": {"name": "api"}})
    assert event["level"] == "error"
    assert event["source"] == "api"
    assert event["metadata"] == {"log": {"level": "info"}}


def test_a_used_nested_value_leaves_its_siblings_and_the_input_untouched() -> None:
    document = {"message": "m", "host": {"name": "web-1", "ip": ["10.0.0.1"]}}
    event = from_shipper(document)
    assert event["source"] == "web-1"
    assert event["metadata"] == {"host": {"ip": ["10.0.0.1"]}}
    assert document == {"message": "m", "host": {"name": "web-1", "ip": ["10.0.0.1"]}}


@pytest.mark.parametrize(
    ("document", "source"),
    [
        ({"service": {"type": "nginx"}, "host": {"name": "web-1"}}, "web-1"),
        ({"source": None, "app": "a"}, "a"),
        ({"source": "  ", "app": "a"}, "a"),
        ({"source": ["x"], "app": "a"}, "a"),
    ],
)
def test_objects_arrays_nulls_and_blanks_are_no_candidates(document: dict[str, Any], source: str) -> None:
    assert from_shipper(document)["source"] == source


def test_own_metadata_is_merged_with_unmapped_keys_and_wins_on_a_clash() -> None:
    event = from_shipper({**BASE, "metadata": {"region": "eu", "pod": "own"}, "pod": "top", "stream": "stdout"})
    assert event["metadata"] == {"region": "eu", "pod": "own", "stream": "stdout"}


def test_metadata_that_is_no_object_is_an_ordinary_key() -> None:
    assert from_shipper({**BASE, "metadata": "x"})["metadata"] == {"metadata": "x"}


def test_odd_types_are_left_for_the_model_to_refuse() -> None:
    event = from_shipper({"message": "m", "source": "s", "level": 30, "trace_id": 7, "timestamp": True})
    assert (event["level"], event["trace_id"], event["timestamp"]) == (30, 7, True)
    with pytest.raises(InvalidEvent) as caught:
        parse_event(event)
    assert {error.field for error in caught.value.errors} == {"level", "trace_id", "timestamp"}


def test_a_missing_message_or_source_is_reported_as_required() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(from_shipper({"level": "info"}))
    found = {(error.field, error.rule) for error in caught.value.errors}
    assert found == {("message", "required"), ("source", "required")}


def test_the_java_camel_case_names_keep_working() -> None:
    event = parse_event(from_shipper({**BASE, "logLevel": "warning", "organizationId": "acme", "traceId": "t-1"}))
    assert (event.level, event.organization_id, event.trace_id) == ("WARN", "acme", "t-1")


def test_an_id_that_is_no_uuid_stays_in_metadata() -> None:
    event = from_shipper({**BASE, "id": 17})
    assert "id" not in event
    assert event["metadata"] == {"id": 17}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1714557600, "2024-05-01T10:00:00+00:00"),
        (1714557600.5, "2024-05-01T10:00:00.500000+00:00"),
        ("1714557600", "2024-05-01T10:00:00+00:00"),
        (99_999_999_999, "5138-11-16T09:46:39+00:00"),
        (1714557600123, "2024-05-01T10:00:00.123000+00:00"),
        (1714557600123456, "2024-05-01T10:00:00.123456+00:00"),
        (1714557600123456789, "2024-05-01T10:00:00.123456+00:00"),
        ("1714557600123456789", "2024-05-01T10:00:00.123456+00:00"),
        ("2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.123456789Z"),
        (float("nan"), "nan"),
        (10**30, 10**30),
    ],
)
def test_epoch_units_follow_the_magnitude(value: Any, expected: Any) -> None:
    got = from_shipper({**BASE, "timestamp": value})["timestamp"]
    assert str(got) == str(expected)


def test_one_trailing_line_end_is_dropped_from_the_message() -> None:
    assert from_shipper({"log": "hello\r\n", "source": "s"})["message"] == "hello"


# What orjson.loads can return: no NaN or infinity, integers within 64 bits.
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["message", "msg", "log", "level", "log.level", "source", "service", "host", "timestamp", "ts", "metadata", "id"]
)


@given(st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=8))
def test_any_object_maps_without_raising_and_the_model_decides(document: dict[str, Any]) -> None:
    event = from_shipper(document)
    try:
        parse_event(event)
    except InvalidEvent:
        pass


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
_NATIVE = ("id", "timestamp", "level", "message", "source", "trace_id", "organization_id", "metadata")


@given(st.dictionaries(st.sampled_from(_NATIVE), _JSON | st.just("x\r\n") | st.just(1714557600)))
def test_an_event_in_logpipes_own_names_maps_as_the_aliases_would(document: dict[str, Any]) -> None:
    """The shortcut for events that use only logpipe's names gives what the full mapping gives."""
    from app.domain.protocols.shapes import _mapped

    assert from_shipper(dict(document), native=True) == _mapped(dict(document), native=True)
