"""Python's logging.handlers.HTTPHandler: bodies made by CPython's own mapLogRecord and urlencode, decoded."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols import Refused
from app.domain.protocols.httphandler import decode_form_record, is_form_record
from app.errors import BadBody
from app.models import parse_event

RECEIVED = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
HANDLER = logging.handlers.HTTPHandler("localhost:8080", "/api/v1/logs", method="POST")


def record(msg: object, args: Any = None, level: int = logging.INFO, **attributes: Any) -> logging.LogRecord:
    made = logging.LogRecord("shop.checkout", level, "/srv/shop/checkout.py", 42, msg, args, None, func="pay")
    made.created = 1714557600.25
    for name, value in attributes.items():
        setattr(made, name, value)
    return made


def body_of(made: logging.LogRecord) -> bytes:
    """Exactly what HTTPHandler.emit posts for this record."""
    return urllib.parse.urlencode(HANDLER.mapLogRecord(made)).encode("utf-8")


def decode(made: logging.LogRecord) -> dict[str, Any]:
    item = decode_form_record(body_of(made), received_at=RECEIVED)
    assert isinstance(item, dict), item
    parse_event(item)
    return item


@pytest.mark.parametrize(
    ("msg", "args", "message"),
    [
        ("plain", None, "plain"),
        ("order %s paid %d EUR", ("A-17", 30), "order A-17 paid 30 EUR"),
        ("%05.1f%%", (3.14159,), "003.1%"),
        ("hello %(user)s, %(n)d items", ({"user": "zoë", "n": 3},), "hello zoë, 3 items"),
        ("tuple arg %s", ((1, 2),), "tuple arg (1, 2)"),
        ("müll %s", ("ünïcødé ✓",), "müll ünïcødé ✓"),
        ("100% sure", None, "100% sure"),
    ],
)
def test_the_message_is_formatted_like_get_message(msg: str, args: Any, message: str) -> None:
    made = record(msg, args)
    assert made.getMessage() == message
    assert decode(made)["message"] == message


def test_the_fields_and_the_metadata_subset() -> None:
    event = decode(record("m", None, logging.WARNING))
    assert (event["level"], event["source"], event["timestamp"]) == (
        "WARNING",
        "shop.checkout",
        "2024-05-01T10:00:00.250000+00:00",
    )
    metadata = event["metadata"]
    assert {key: metadata[key] for key in ("module", "funcName", "lineno", "pathname")} == {
        "module": "checkout",
        "funcName": "pay",
        "lineno": 42,
        "pathname": "/srv/shop/checkout.py",
    }
    assert isinstance(metadata["process"], int) and isinstance(metadata["thread"], int)
    assert {"processName", "threadName"} <= set(metadata)
    dropped = {"msg", "args", "msecs", "relativeCreated", "exc_info", "exc_text", "stack_info", "levelno", "name"}
    assert not dropped & set(metadata)


def test_extra_fields_are_kept() -> None:
    metadata = decode(record("m", None, user_id=42, cart="c-9"))["metadata"]
    assert (metadata["user_id"], metadata["cart"]) == ("42", "c-9")


def test_a_traceback_formatted_by_an_earlier_handler_is_appended_and_kept() -> None:
    empty: dict[str, int] = {}
    try:
        empty["missing"]
    except KeyError:
        made = logging.LogRecord("shop", logging.ERROR, __file__, 1, "lookup failed for %s", ("k",), sys.exc_info())
    logging.Formatter().format(made)  # what a StreamHandler before the HTTPHandler leaves on the record
    event = decode(made)
    assert event["message"].startswith("lookup failed for k\nTraceback (most recent call last):\n")
    assert event["message"].endswith("KeyError: 'missing'")
    assert event["metadata"]["exc_text"] == made.exc_text
    assert event["level"] == "ERROR"


def test_without_an_earlier_formatter_no_traceback_travels() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        made = logging.LogRecord("shop", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    event = decode(made)
    assert event["message"] == "failed"
    assert "exc_text" not in event["metadata"]


def test_stack_info_is_appended_like_a_formatter_does() -> None:
    event = decode(record("where", None, stack_info="Stack (most recent call last):\n  File x"))
    assert event["message"] == "where\nStack (most recent call last):\n  File x"
    assert event["metadata"]["stack_info"] == "Stack (most recent call last):\n  File x"


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("at %s", (datetime(2024, 1, 1),)),
        ("two %s %s", ("only one",)),
        ("number %d", ("text",)),
        ("huge %999999999s", ("x",)),
        ("star %*s", (999999999, "x")),
        ("no placeholder", ("surplus",)),
        ("key %(missing)s", ({"other": 1},)),
    ],
)
def test_args_that_cannot_be_read_back_or_applied_leave_the_message_raw(msg: str, args: Any) -> None:
    event = decode(record(msg, args))
    assert event["message"] == msg
    assert event["metadata"]["args"] == str(record(msg, args).args)


def test_a_message_set_by_an_earlier_formatter_is_taken_as_is() -> None:
    made = record("at %s", (datetime(2024, 1, 1),))
    logging.Formatter().format(made)
    assert decode(made)["message"] == "at 2024-01-01 00:00:00"


@pytest.mark.parametrize(
    ("levelname", "levelno", "level"),
    [("NOTICE", 25, "INFO"), ("TRACE", 5, "TRACE"), ("Level 35", 35, "WARN"), ("VERBOSE", 15, "DEBUG")],
)
def test_custom_level_names_go_by_number(levelname: str, levelno: int, level: str) -> None:
    event = decode(record("m", None, levelname=levelname, levelno=levelno))
    assert event["level"] == level
    if levelname != "TRACE":
        assert event["metadata"]["levelname"] == levelname


def test_a_get_query_string_decodes_the_same() -> None:
    made = record("q %s", ("v",))
    query = urllib.parse.urlparse("/api/v1/logs?" + urllib.parse.urlencode(HANDLER.mapLogRecord(made))).query
    item = decode_form_record(query.encode(), received_at=RECEIVED)
    assert isinstance(item, dict) and item["message"] == "q v"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"name=app&levelname=INFO", "message"),
        (b"msg=hi&levelname=INFO", "source"),
        (b"msg=hi&name=bad%01name", "source"),
        (b"msg=&name=app", "message"),
        (b"msg=%20%20&name=app", "message"),
    ],
)
def test_what_is_no_record_is_refused(body: bytes, field: str) -> None:
    item = decode_form_record(body, received_at=RECEIVED)
    assert isinstance(item, Refused) and item.field == field


def test_an_unreadable_created_dates_the_event_on_receipt() -> None:
    item = decode_form_record(b"msg=hi&name=app&created=yesterday", received_at=RECEIVED)
    assert isinstance(item, dict)
    assert (item["timestamp"], item["metadata"]["created"]) == (RECEIVED.isoformat(), "yesterday")


def test_too_many_fields_is_a_bad_body() -> None:
    with pytest.raises(BadBody) as caught:
        decode_form_record(b"&".join(b"k%d=v" % n for n in range(2000)), received_at=RECEIVED)
    assert caught.value.code == "invalid_form"


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/x-www-form-urlencoded", b"anything", True),
        ("Application/X-WWW-Form-Urlencoded; charset=utf-8", b"", True),
        ("", body_of(record("m")), True),
        ("text/plain", b"msg=a&levelname=INFO&name=x", True),
        ("application/json", b'{"msg": "a", "levelname": "INFO"}', False),
        ("application/json", b'[{"message": "m"}]', False),
        ("application/x-www-form-urlencoded", b'{"level":"ERROR","message":"m"}', False),  # curl -d
        ("application/x-www-form-urlencoded", b' \n[{"message": "m"}]', False),
        ("", b"msg=a&name=x", False),
        ("", b"", False),
    ],
)
def test_is_form_record(content_type: str, body: bytes, expected: bool) -> None:
    assert is_form_record(content_type, body) is expected


@given(st.binary(max_size=300))
def test_any_bytes_become_an_event_the_model_takes_a_refusal_or_a_bad_body(body: bytes) -> None:
    try:
        item = decode_form_record(body, received_at=RECEIVED)
    except BadBody:
        return
    if isinstance(item, dict):
        parse_event(item)


SCALARS = st.one_of(st.text(max_size=10), st.integers(), st.floats(allow_nan=False), st.none(), st.booleans())


@given(st.text(max_size=30), st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=5), SCALARS, max_size=3))
def test_any_record_decodes_to_an_event_the_model_takes_or_a_refusal(msg: str, args: Any) -> None:
    made = record(msg, (args,) if isinstance(args, dict) else tuple(args))
    item = decode_form_record(body_of(made), received_at=RECEIVED)
    if isinstance(item, dict):
        parse_event(item)
        try:
            expected = made.getMessage()
        except (TypeError, ValueError, KeyError, OverflowError):
            return
        if "args" not in item["metadata"] and expected.strip():
            assert item["message"] == expected.replace("\x00", "\ufffd")
    else:
        assert isinstance(item, Refused)
