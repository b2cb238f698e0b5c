"""field.KEY query parameters → FieldFilter → index-servable containments on metadata."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.domain.field_filters import (
    MAX_FIELD_FILTERS,
    MAX_FIELD_VALUES,
    FieldFilter,
    documents,
    field_conditions,
    metadata_matches,
    parse_field_filters,
    split_values,
)
from app.errors import QueryError


@pytest.mark.parametrize(
    ("pairs", "filters"),
    [
        ([], ()),
        ([("level", "ERROR"), ("q", "x")], ()),
        ([("field.user.id", "u1")], (FieldFilter("user.id", ("u1",)),)),
        ([("field.status", "500,404")], (FieldFilter("status", ("404", "500")),)),
        ([("field.status", "500"), ("field.status", "404")], (FieldFilter("status", ("404", "500")),)),
        ([("field.msg", r"a\,b,c")], (FieldFilter("msg", ("a,b", "c")),)),
        ([("field.b", "1"), ("field.a", "2")], (FieldFilter("a", ("2",)), FieldFilter("b", ("1",)))),
        ([("field.a", "")], ()),  # an empty parameter is ignored, as every other one is
        ([("field.a", ",,x,")], (FieldFilter("a", ("x",)),)),
        ([("field.a", "x,x")], (FieldFilter("a", ("x",)),)),
        ([("field.A_b-9.c", "v w")], (FieldFilter("A_b-9.c", ("v w",)),)),
        ([("fields.a", "x"), ("field", "x")], ()),
    ],
)
def test_parse(pairs: list[tuple[str, str]], filters: tuple[FieldFilter, ...]) -> None:
    assert parse_field_filters(pairs) == filters


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        ("a", ["a"]),
        ("a,b", ["a", "b"]),
        (r"a\,b", ["a,b"]),
        (r"a\\,b", ["a\\", "b"]),
        (r"C:\temp,x", [r"C:\temp", "x"]),  # other backslashes are kept
        ("a\\", ["a\\"]),
        (",", []),
        ("", []),
        (" a , b ", [" a ", " b "]),  # compared exactly: no trimming
    ],
)
def test_split_values(raw: str, values: list[str]) -> None:
    assert split_values(raw) == values


def _refused(pairs: list[tuple[str, str]]) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse_field_filters(pairs)
    return info.value


@pytest.mark.parametrize(
    ("pairs", "field", "rule"),
    [
        ([("field.", "x")], "field.", "key"),
        ([("field.a..b", "x")], "field.a..b", "key"),
        ([("field.a b", "x")], "field.a b", "key"),
        ([("field.a$", "x")], "field.a$", "key"),
        ([("field.a$", "")], "field.a$", "key"),  # a bad key is refused even without a value
        ([("field.ü", "x")], "field.ü", "key"),
        ([("field.a.b.c.d.e.f.g.h.i", "x")], "field.a.b.c.d.e.f.g.h.i", "max_parts"),
        ([("field." + "k" * 129, "x")], "field." + "k" * 129, "max_length"),
        ([("field." + "k" * 999, "x")], "field." + "k" * 160 + "…", "max_length"),  # names shown cut
        ([("field.a", "x\x00")], "field.a", "no_nul"),
        ([("field.a", ",".join(map(str, range(MAX_FIELD_VALUES + 1))))], "field.a", "max_values"),
        ([(f"field.k{i:02}", "x") for i in range(MAX_FIELD_FILTERS + 1)], "field.k10", "max_filters"),
    ],
)
def test_refused(pairs: list[tuple[str, str]], field: str, rule: str) -> None:
    error = _refused(pairs)
    assert (error.field, error.rule) == (field, rule)
    assert error.as_dict()["message"]


def test_the_limits_themselves_are_allowed() -> None:
    pairs = [(f"field.k{i}", ",".join(map(str, range(MAX_FIELD_VALUES)))) for i in range(MAX_FIELD_FILTERS)]
    assert len(parse_field_filters(pairs)) == MAX_FIELD_FILTERS
    assert parse_field_filters([("field." + ".".join("abcdefgh"), "x")])
    assert parse_field_filters([("field." + "k" * 128, "x")])


def _docs(field: FieldFilter) -> list[Any]:
    return [orjson.loads(doc) for doc in documents(field)]


@pytest.mark.parametrize(
    ("field", "docs"),
    [
        (FieldFilter("user", ("u1",)), [{"fields": {"user": "u1"}}, {"user": "u1"}]),
        (
            FieldFilter("user.id", ("u1",)),
            [
                {"fields": {"user.id": "u1"}},
                {"fields": {"user": {"id": "u1"}}},
                {"user.id": "u1"},
                {"user": {"id": "u1"}},
            ],
        ),
        (
            FieldFilter("status", ("500",)),
            [{"fields": {"status": "500"}}, {"status": "500"}, {"fields": {"status": 500}}, {"status": 500}],
        ),
        (
            FieldFilter("flag", ("true", "null")),
            [
                {"fields": {"flag": "true"}},
                {"flag": "true"},
                {"fields": {"flag": True}},
                {"flag": True},
                {"fields": {"flag": "null"}},
                {"flag": "null"},
                {"fields": {"flag": None}},
                {"flag": None},
            ],
        ),
        (FieldFilter("n", ("007",)), [{"fields": {"n": "007"}}, {"n": "007"}]),  # not a JSON number
        (FieldFilter("n", ("1e999",)), [{"fields": {"n": "1e999"}}, {"n": "1e999"}]),  # past a double: text only
        (FieldFilter("n", ("+5",)), [{"fields": {"n": "+5"}}, {"n": "+5"}]),
        (FieldFilter("n", ("TRUE",)), [{"fields": {"n": "TRUE"}}, {"n": "TRUE"}]),
        (FieldFilter("q", ('say "hi"',)), [{"fields": {"q": 'say "hi"'}}, {"q": 'say "hi"'}]),
    ],
)
def test_documents(field: FieldFilter, docs: list[Any]) -> None:
    assert _docs(field) == docs


def test_a_big_integer_keeps_every_digit() -> None:
    assert '{"n":123456789012345678901234567890}' in documents(FieldFilter("n", ("123456789012345678901234567890",)))


def test_sql() -> None:
    filters = (FieldFilter("status", ("404", "500")), FieldFilter("user.id", ("u1",)))
    conditions, args = field_conditions(filters)
    assert conditions == ["metadata @> ANY(%(field0)s::jsonb[])", "metadata @> ANY(%(field1)s::jsonb[])"]
    assert set(args) == {"field0", "field1"}
    assert [orjson.loads(doc) for doc in args["field0"]] == [
        {"fields": {"status": "404"}},
        {"status": "404"},
        {"fields": {"status": 404}},
        {"status": 404},
        {"fields": {"status": "500"}},
        {"status": "500"},
        {"fields": {"status": 500}},
        {"status": 500},
    ]
    assert all(isinstance(doc, str) for doc in args["field1"])  # text, which the cast reads as jsonb


def test_sql_without_filters_and_with_a_prefix() -> None:
    assert field_conditions(()) == ([], {})
    conditions, args = field_conditions((FieldFilter("a", ("x",)),), "rule_f")
    assert conditions == ["metadata @> ANY(%(rule_f0)s::jsonb[])"]
    assert list(args) == ["rule_f0"]


@pytest.mark.parametrize("param", ["", "F", "a b", "a)s; drop", "0a"])
def test_the_prefix_must_be_an_identifier(param: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        field_conditions((FieldFilter("a", ("x",)),), param)


@pytest.mark.parametrize(
    ("pairs", "metadata", "matches"),
    [
        ([("field.status", "500")], {"fields": {"status": "500"}}, True),
        ([("field.status", "500")], {"status": 500}, True),
        ([("field.status", "500")], {"status": 500.0}, True),
        ([("field.status", "500")], {"status": "500 "}, False),
        ([("field.status", "500")], {"status": [500]}, False),  # arrays are not searched into
        ([("field.status", "404,500")], {"fields": {"status": "404"}}, True),
        ([("field.flag", "true")], {"fields": {"flag": True}}, True),
        ([("field.flag", "1")], {"fields": {"flag": True}}, False),  # jsonb: true is not 1
        ([("field.flag", "true")], {"fields": {"flag": 1}}, False),
        ([("field.x", "null")], {"x": None}, True),
        ([("field.x", "null")], {}, False),
        ([("field.user.id", "u1")], {"fields": {"user.id": "u1"}}, True),
        ([("field.user.id", "u1")], {"fields": {"user": {"id": "u1"}}}, True),
        ([("field.user.id", "u1")], {"user": {"id": "u1", "name": "x"}}, True),
        ([("field.user.id", "u1")], {"user.id": "u1"}, True),
        ([("field.user.id", "u1")], {"user": "u1"}, False),
        ([("field.user.id", "u1"), ("field.status", "500")], {"fields": {"user.id": "u1"}, "status": 500}, True),
        ([("field.user.id", "u1"), ("field.status", "500")], {"fields": {"user.id": "u1"}}, False),
        ([("field.a", "x")], None, False),
        ([], None, True),
    ],
)
def test_metadata_matches(pairs: list[tuple[str, str]], metadata: dict[str, Any] | None, matches: bool) -> None:
    assert metadata_matches(parse_field_filters(pairs), metadata) is matches
