"""Fields of JSON and logfmt messages, within limits whatever the message; merged into metadata."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.fields import DEFAULT, TRUNCATED, FieldLimits, extract_fields, merge_fields
from app.models import METADATA_MAX_BYTES, parse_event


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ('{"user":{"id":"u1"},"n":5}', {"user.id": "u1", "n": 5}),
        ('  {"a": true, "b": null, "c": 1.5}\n', {"a": True, "b": None, "c": 1.5}),
        ('{"tags": ["a", "b"], "empty": {}}', {"tags": ["a", "b"]}),
        ('{"user.id": "flat", "user": {"id": "nested"}}', {"user.id": "flat"}),  # the first one wins
        ('{"a": 1, "a": 2}', {"a": 2}),  # JSON's own duplicates: the parser keeps the last
        ("{}", None),
        ('{"a": {}}', None),
        ("[1, 2]", None),
        ('"just a string"', None),
        ("{not json", None),
        ('{"a": 1} trailing', None),
    ],
)
def test_json_messages(message: str, fields: dict[str, Any] | None) -> None:
    assert extract_fields(message) == fields


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        ("level=info msg=hello", {"level": "info", "msg": "hello"}),
        ('level=info msg="hello world" user=bob', {"level": "info", "msg": "hello world", "user": "bob"}),
        ('a="say \\"hi\\"" b="back\\\\slash"', {"a": 'say "hi"', "b": "back\\slash"}),
        ('a="line\\nbreak\\ttab" b="\\x kept"', {"a": "line\nbreak\ttab", "b": "\\x kept"}),
        ("status=500 duration=3", {"status": "500", "duration": "3"}),  # strings: never guessed numbers
        ("status=007 ok=true", {"status": "007", "ok": "true"}),
        ("a= b=x", {"a": "", "b": "x"}),
        ('a="" b=x', {"a": "", "b": "x"}),
        ("a=1 b=2 dry_run", {"a": "1", "b": "2", "dry_run": True}),
        ("retries=3", {"retries": "3"}),
        ("  retries=3  ", {"retries": "3"}),
        ("a=1 a=2 b=3", {"a": "1", "b": "3"}),  # the first one wins
        ("a=1\tb=2\nc=3", {"a": "1", "b": "2", "c": "3"}),
        ("ключ=значение x=ü", {"ключ": "значение", "x": "ü"}),
        ("k.with.dots=1 k-dash=2", {"k.with.dots": "1", "k-dash": "2"}),
    ],
)
def test_logfmt_lines(message: str, fields: dict[str, Any]) -> None:
    assert extract_fields(message) == fields


@pytest.mark.parametrize(
    "message",
    [
        "connection reset by peer",
        "user=bob logged in",  # one pair among words: a sentence
        "set x=5 failed",
        "GET /api status=200 ms=3",  # two pairs, two words: not a majority
        "a=1 b",  # one pair and a word
        "note: a=1",
        "a=b=c d=e",  # '=' in a bare value: go-logfmt refuses it
        "url=http://x?a=b c=d",
        'a="unterminated b=2',
        'a="x"b c=d',  # a quoted value must end the token
        'a=x"y b=2',
        "=value b=2",
        "",
        "   ",
        "single",
        "  a  ",
    ],
)
def test_prose_is_left_alone(message: str) -> None:
    assert extract_fields(message) is None


def test_depth_beyond_the_limit_is_kept_as_json_text() -> None:
    message = orjson.dumps({"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}).decode()
    assert extract_fields(message) == {"a.b.c.d.e": '{"f":{"g":1}}'}
    assert extract_fields(message, FieldLimits(max_depth=2)) == {"a.b": '{"c":{"d":{"e":{"f":{"g":1}}}}}'}


def test_too_many_fields_stop_and_mark_truncated() -> None:
    message = orjson.dumps({f"k{i:03}": i for i in range(100)}).decode()
    fields = extract_fields(message)
    assert fields is not None
    assert fields.pop(TRUNCATED) is True
    assert list(fields) == [f"k{i:03}" for i in range(DEFAULT.max_fields)]


def test_long_values_are_cut_and_long_keys_dropped() -> None:
    limits = FieldLimits(max_key_chars=8, max_value_chars=5)
    message = orjson.dumps({"short": "abcdefgh", "a_very_long_key": 1, "ok": [1, 2, 3, 4, 5, 6]}).decode()
    assert extract_fields(message, limits) == {"short": "abcde", TRUNCATED: True}
    assert extract_fields('msg="hello world" k=v', limits) == {"msg": "hello", "k": "v", TRUNCATED: True}


def test_large_or_deep_arrays_are_dropped() -> None:
    assert extract_fields(orjson.dumps({"big": list(range(1000)), "x": 1}).decode()) == {"x": 1, TRUNCATED: True}
    deep = '{"deep": ' + "[" * 300 + "]" * 300 + ', "x": 1}'  # past orjson's recursion limit when written back
    assert extract_fields(deep) == {"x": 1, TRUNCATED: True}
    nested = {"n": [[[[[[1]]]]]], "x": 1}
    assert extract_fields(orjson.dumps(nested).decode()) == {"x": 1, TRUNCATED: True}


def test_the_byte_budget_holds() -> None:
    limits = FieldLimits(max_bytes=200)
    message = orjson.dumps({f"k{i}": "v" * 40 for i in range(10)}).decode()
    fields = extract_fields(message, limits)
    assert fields is not None and fields[TRUNCATED] is True
    assert len(orjson.dumps(fields)) <= 200
    assert len(fields) == 4  # three of 47 bytes each fit in 200 with the marker


def test_nul_never_reaches_postgresql() -> None:
    fields = extract_fields(r'{"a": "x\u0000y", "b\u0000": 1, "c": ["\u0000"], "d": 2}')
    assert fields == {"a": "x\ufffdy", "d": 2, TRUNCATED: True}


def test_a_messages_own_truncated_key_is_skipped() -> None:
    assert extract_fields('{"_truncated": "mine", "a": 1}') == {"a": 1}


def test_lone_surrogates_are_not_extracted() -> None:
    assert extract_fields("a=\ud800 b=2") is None


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"max_depth": 0}, "at least 1"),
        ({"max_fields": 0}, "at least 1"),
        ({"max_bytes": 10}, "at least 64"),
    ],
)
def test_limits_are_checked(limits: dict[str, int], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        FieldLimits(**limits)


@pytest.mark.parametrize(
    ("metadata", "fields", "merged"),
    [
        (None, {"a": "1"}, {"fields": {"a": "1"}}),
        ({"env": "prod"}, {"a": "1"}, {"env": "prod", "fields": {"a": "1"}}),
        ({"fields": {"a": "mine", "b": 2}}, {"a": "1", "c": "3"}, {"fields": {"a": "mine", "b": 2, "c": "3"}}),
        ({"fields": "mine"}, {"a": "1"}, {"fields": "mine"}),  # not an object: the sender's alone
        ({"fields": ["x"]}, {"a": "1"}, {"fields": ["x"]}),
        ({"env": "prod"}, {}, {"env": "prod"}),
        (None, {}, {}),
    ],
)
def test_merge_fields(metadata: dict[str, Any] | None, fields: dict[str, Any], merged: dict[str, Any]) -> None:
    before = orjson.dumps(metadata)
    assert merge_fields(metadata, fields) == merged
    assert orjson.dumps(metadata) == before  # the sender's metadata is not changed in place


def test_merge_leaves_out_what_would_break_the_metadata_limit() -> None:
    metadata = {"blob": "x" * (METADATA_MAX_BYTES - 100)}
    fields = {f"k{i}": "v" * 20 for i in range(10)}
    merged = merge_fields(metadata, fields)
    assert len(orjson.dumps(merged)) <= METADATA_MAX_BYTES
    assert merged["fields"][TRUNCATED] is True
    assert list(merged["fields"])[1:] == ["k0", "k1"]
    assert merged["blob"] == metadata["blob"]


def test_merge_leaves_metadata_already_over_the_limit_alone() -> None:
    metadata = {"blob": "x" * METADATA_MAX_BYTES}
    assert merge_fields(metadata, {"a": "1"}) == metadata


def test_an_event_with_extracted_fields_still_passes_the_model() -> None:
    message = orjson.dumps({f"k{i}": "ü" * 120 for i in range(64)}).decode()
    metadata = {"env": "prod", "note": "n" * 4000}
    fields = extract_fields(message)
    assert fields is not None
    event = parse_event({"message": message, "source": "api", "metadata": merge_fields(metadata, fields)})
    assert event.metadata is not None and event.metadata["fields"][TRUNCATED] is True


_limits = st.builds(
    FieldLimits,
    max_depth=st.integers(1, 6),
    max_fields=st.integers(1, 70),
    max_key_chars=st.integers(1, 140),
    max_value_chars=st.integers(1, 1100),
    max_bytes=st.integers(64, 9000),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=8),
    max_leaves=60,
)
_logfmt_token = st.tuples(
    st.from_regex(r'[^\s="]{1,12}', fullmatch=True),
    st.none() | st.text(max_size=20) | st.from_regex(r'[^\s="]{0,12}', fullmatch=True),
).map(lambda kv: kv[0] if kv[1] is None else f"{kv[0]}={orjson.dumps(kv[1]).decode()}")
_messages = (
    st.text()
    | st.dictionaries(st.text(max_size=10), _json, max_size=80).map(lambda d: orjson.dumps(d).decode())
    | st.lists(_logfmt_token, max_size=80).map(" ".join)
)


def _check_limits(fields: dict[str, Any] | None, limits: FieldLimits) -> None:
    if fields is None:
        return
    assert fields
    assert len(orjson.dumps(fields)) <= limits.max_bytes
    assert len(fields) - (TRUNCATED in fields) <= limits.max_fields
    for key, value in fields.items():
        assert key == TRUNCATED or len(key) <= limits.max_key_chars
        assert "\x00" not in key
        if isinstance(value, str):
            assert len(value) <= limits.max_value_chars and "\x00" not in value
        if isinstance(value, list):
            assert len(orjson.dumps(value)) <= limits.max_value_chars


@settings(max_examples=400, deadline=None)
@given(message=_messages, limits=_limits)
def test_any_message_is_safe(message: str, limits: FieldLimits) -> None:
    fields = extract_fields(message, limits)
    _check_limits(fields, limits)
    merged = merge_fields({"env": "prod"}, fields or {})
    assert len(orjson.dumps(merged)) <= METADATA_MAX_BYTES


@settings(max_examples=200, deadline=None)
@given(message=_messages)
def test_any_message_within_the_default_limits(message: str) -> None:
    _check_limits(extract_fields(message), DEFAULT)
