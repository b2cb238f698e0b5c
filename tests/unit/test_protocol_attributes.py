"""OTLP attribute values as plain Python, and flattening to dotted keys within caps."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList

from app.domain.protocols.attributes import MAX_DEPTH, MAX_KEYS, TRUNCATED_KEY, any_value, flatten, key_values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (AnyValue(), None),
        (AnyValue(string_value="s"), "s"),
        (AnyValue(string_value=""), ""),
        (AnyValue(bool_value=False), False),
        (AnyValue(int_value=-(2**63)), -(2**63)),
        (AnyValue(double_value=637.704), 637.704),
        (AnyValue(bytes_value=b"\x00\xffhi"), "AP9oaQ=="),
        (AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1), AnyValue(string_value="a")])), [1, "a"]),
        (AnyValue(array_value=ArrayValue()), []),
        (
            AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(bool_value=True))])),
            {"k": True},
        ),
        (
            AnyValue(
                array_value=ArrayValue(
                    values=[AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue())]))]
                )
            ),
            [{"k": None}],
        ),
    ],
    ids=[
        "unset",
        "string",
        "empty-string",
        "bool",
        "int64",
        "double",
        "bytes",
        "array",
        "empty-array",
        "kvlist",
        "nest",
    ],
)
def test_any_value(value: AnyValue, expected: Any) -> None:
    assert any_value(value) == expected


def test_key_values_keeps_the_last_of_a_repeated_key() -> None:
    pairs = [KeyValue(key="a", value=AnyValue(int_value=1)), KeyValue(key="a", value=AnyValue(int_value=2))]
    assert key_values(pairs) == {"a": 2}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("mapping", "prefix", "expected"),
    [
        ({}, "", {}),
        ({"http": {"status": 500}}, "", {"http.status": 500}),
        (
            {"http": {"status": 500, "method": "GET"}, "ok": True},
            "",
            {"http.status": 500, "http.method": "GET", "ok": True},
        ),
        ({"a": {"b": {"c": [1, {"d": 2}]}}}, "", {"a.b.c": [1, {"d": 2}]}),
        ({"a": {}}, "", {"a": {}}),
        ({"status": 1}, "http", {"http.status": 1}),
        ({"a.b": 1, "a": {"b": 2}}, "", {"a.b": 2}),
        (_nested(MAX_DEPTH), "", {"n." * (MAX_DEPTH - 1) + "leaf": 1}),
        (_nested(MAX_DEPTH + 1), "", {"n." * (MAX_DEPTH - 1) + "n": {"leaf": 1}}),
    ],
    ids=["empty", "nested", "mixed", "lists-stay", "empty-nested", "prefix", "clash-later-wins", "at-cap", "over-cap"],
)
def test_flatten(mapping: dict[str, Any], prefix: str, expected: dict[str, Any]) -> None:
    assert flatten(mapping, prefix) == expected


@pytest.mark.parametrize(
    ("count", "dropped"),
    [(MAX_KEYS - 1, 0), (MAX_KEYS, 0), (MAX_KEYS + 1, 1), (MAX_KEYS + 44, 44)],
)
def test_flatten_caps_the_key_count(count: int, dropped: int) -> None:
    flat = flatten({"group": {f"k{i}": i for i in range(count)}})
    assert flat.get(TRUNCATED_KEY, 0) == dropped
    assert len(flat) == min(count, MAX_KEYS) + (1 if dropped else 0)
    assert "group.k0" in flat
