"""Syslog messages to events: levels, facilities, timestamps, structured data, decoding and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols import Item, Refused
from app.domain.protocols.syslog import FACILITIES, parse_message
from app.models import MESSAGE_MAX_BYTES, parse_event

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"


def parse(data: bytes, received_at: datetime = RECEIVED) -> dict[str, Any]:
    item = parse_message(data, received_at=received_at)
    assert isinstance(item, dict), item
    parse_event(item)
    return item


@pytest.mark.parametrize(
    ("severity", "level"),
    [(0, "FATAL"), (1, "FATAL"), (2, "FATAL"), (3, "ERROR"), (4, "WARN"), (5, "INFO"), (6, "INFO"), (7, "DEBUG")],
)
def test_severity_to_level(severity: int, level: str) -> None:
    assert parse(b"<%d>hello" % (16 * 8 + severity))["level"] == level


@pytest.mark.parametrize(("code", "name"), [(0, "kern"), (4, "auth"), (10, "authpriv"), (16, "local0"), (23, "local7")])
def test_facility_names(code: int, name: str) -> None:
    assert parse(b"<%d>hello" % (code * 8 + 6))["metadata"]["facility"] == name
    assert len(FACILITIES) == 24


@pytest.mark.parametrize(
    ("data", "received", "timestamp"),
    [
        (b"<13>Dec 31 23:59:50 h t: x", datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC), "2024-12-31T23:59:50+00:00"),
        (b"<13>Jan  1 00:00:10 h t: x", datetime(2024, 12, 31, 23, 59, 0, tzinfo=UTC), "2025-01-01T00:00:10+00:00"),
        (b"<13>Mar  2 11:00:00 h t: x", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2024-03-02T11:00:00+00:00"),
        (b"<13>Mar  2 13:00:00 h t: x", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2023-03-02T13:00:00+00:00"),
        (b"<13>Feb 29 10:00:00 h t: x", datetime(2025, 3, 1, 12, 0, tzinfo=UTC), "2024-02-29T10:00:00+00:00"),
        (
            b"<13>Mar 01 10:00:00.25 h t: x",
            datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
            "2024-03-01T10:00:00.250000+00:00",
        ),
        (b"<13>Mar 1 10:00:00 h t: x", datetime(2024, 3, 1, 12, 0, tzinfo=UTC), "2024-03-01T10:00:00+00:00"),
    ],
)
def test_a_bsd_timestamp_takes_the_year_that_keeps_it_at_most_a_day_ahead(
    data: bytes, received: datetime, timestamp: str
) -> None:
    assert parse(data, received)["timestamp"] == timestamp


@pytest.mark.parametrize(
    ("data", "raw"),
    [
        (b"<13>Feb 30 10:00:00 host tag: x", "Feb 30 10:00:00"),
        (b"<13>1 2024-13-01T00:00:00Z host app - - - x", "2024-13-01T00:00:00Z"),
        (b"<13>1 yesterday host app - - - x", "yesterday"),
        (b"<13>2024-02-30T00:00:00Z host tag: x", "2024-02-30T00:00:00Z"),
    ],
)
def test_an_impossible_timestamp_is_kept_raw_and_the_event_dated_on_receipt(data: bytes, raw: str) -> None:
    event = parse(data)
    assert event["timestamp"] == RECEIVED.isoformat()
    assert event["metadata"]["timestamp_raw"] == raw
    assert event["message"] == "x"


def test_the_nilvalue_timestamp_means_receipt_without_a_raw_copy() -> None:
    event = parse(b"<14>1 - - - - - - just this")
    assert (event["timestamp"], event["source"], event["message"]) == (RECEIVED.isoformat(), "syslog", "just this")
    assert "timestamp_raw" not in event["metadata"]


@pytest.mark.parametrize(
    ("sd", "expected"),
    [
        (rb'[a@1 q="say \"hi\""]', {"a@1": {"q": 'say "hi"'}}),
        (rb'[a@1 p="C:\\dir"]', {"a@1": {"p": "C:\\dir"}}),
        (rb'[a@1 b="x\]y"]', {"a@1": {"b": "x]y"}}),
        (rb'[a@1 u="\n stays"]', {"a@1": {"u": "\\n stays"}}),
        (rb'[a@1 k="1" k="2"]', {"a@1": {"k": ["1", "2"]}}),
        (rb'[a@1 k="1"][a@1 k="2" j="3"]', {"a@1": {"k": "1", "j": "3"}}),
        (rb"[origin]", {"origin": {}}),
        ('[a@1 w="zo\u00eb"]'.encode(), {"a@1": {"w": "zoë"}}),
    ],
)
def test_structured_data_params_with_the_rfc_escapes(sd: bytes, expected: dict[str, Any]) -> None:
    event = parse(b"<14>1 2024-03-01T12:00:00Z h app - - " + sd + b" msg")
    assert event["metadata"]["structured_data"] == expected
    assert event["message"] == "msg"


@pytest.mark.parametrize("sd", [rb'[a@1 q="open', rb"[a@1 q=bare]", rb"[]", rb'[a@1 q="x"]junk'])
def test_malformed_structured_data_stays_in_the_message(sd: bytes) -> None:
    event = parse(b"<14>1 2024-03-01T12:00:00Z h app - - " + sd + b" msg")
    assert "structured_data" not in event["metadata"]
    assert event["message"] == (sd + b" msg").decode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<14>1 - h app - - - " + BOM + b"caf\xc3\xa9", "café"),
        (b"<14>Mar  1 11:00:00 h app: " + BOM + b"caf\xc3\xa9", "café"),
        (b"<14>bad \xff byte", "bad \ufffd byte"),
        (b"<14>inner\x00nul", "inner\ufffdnul"),
        (b"<14>trailers\r\n\x00", "trailers"),
    ],
)
def test_msg_decoding(data: bytes, message: str) -> None:
    assert parse(data)["message"] == message


@pytest.mark.parametrize(
    ("data", "source", "metadata"),
    [
        (b"<14>1 - host \x01app - - - m", "host", {"app_name": "\x01app"}),
        (b"<14>1 - h\x02 - - - - m", "syslog", {"hostname": "h\x02"}),
        (b"<14>1 - " + b"h" * 300 + b" - - - - m", "syslog", {}),
    ],
)
def test_a_source_the_model_would_refuse_is_skipped(data: bytes, source: str, metadata: dict[str, Any]) -> None:
    event = parse(data)
    assert event["source"] == source
    assert {key: event["metadata"][key] for key in metadata} == metadata


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"", "required"),
        (b"\r\n\x00", "required"),
        (b"<13>", "required"),
        (b"<13>Mar  1 11:00:00 host tag:", "required"),
        (b"<14>" + b"x" * (MESSAGE_MAX_BYTES + 1), "max_bytes"),
    ],
)
def test_what_cannot_be_an_event_is_refused(data: bytes, rule: str) -> None:
    item = parse_message(data, received_at=RECEIVED)
    assert isinstance(item, Refused) and item.rule == rule


@pytest.mark.parametrize("data", [b"<192>x", b"<abc>x", b"<1234>x", b"<>x"])
def test_an_unusable_pri_means_no_pri(data: bytes) -> None:
    event = parse(data)
    assert event["message"] == data.decode()
    assert (event["metadata"]["facility"], event["metadata"]["severity"]) == ("user", "notice")


def test_naive_receipt_times_are_utc() -> None:
    assert parse(b"<14>hi", RECEIVED.replace(tzinfo=None))["timestamp"] == RECEIVED.isoformat()


PREFIXES = st.sampled_from([b"", b"<165>", b"<165>1 ", b"<13>Mar  1 11:00:00 ", b"<14>1 - h a - - [x@1 "])


@given(st.builds(bytes.__add__, PREFIXES, st.binary(max_size=300)))
def test_any_bytes_become_an_event_the_model_takes_or_a_refusal(data: bytes) -> None:
    item: Item = parse_message(data, received_at=RECEIVED)
    if isinstance(item, dict):
        parse_event(item)
    else:
        assert isinstance(item, Refused)
