"""Log-query alert rules from YAML: what they mean, and errors that say file, line, column and why."""

from __future__ import annotations

from datetime import timedelta
from textwrap import dedent

import pytest

from app.domain.field_filters import FieldFilter
from app.domain.query import LogQuery
from app.domain.rules import MAX_RULES, LogRule, load_rules
from app.errors import RulesError

FULL = """\
rules:
  - name: payment_errors          # a comment
    level: [ERROR, fatal]
    source: payments
    organization_id: acme
    q: "  timeout OR refused "
    fields: {status: 500, tags: [a, "b,c"], user.id: u1}
    window: 5m
  - name: Anything_1
    window: 10s
"""


def load(text: str) -> list[LogRule]:
    return load_rules(dedent(text), source_name="rules.yaml")


def test_a_full_file() -> None:
    payment, anything = load(FULL)
    assert payment == LogRule(
        name="payment_errors",
        query=LogQuery(levels=("ERROR", "FATAL"), source="payments", organization_id="acme", text="timeout OR refused"),
        fields=(
            FieldFilter("status", ("500",)),
            FieldFilter("tags", ("a", "b,c")),  # a list is any of; a comma is a comma
            FieldFilter("user.id", ("u1",)),
        ),
        window=timedelta(minutes=5),
        line=2,
    )
    assert anything == LogRule("Anything_1", LogQuery(), (), timedelta(seconds=10), 9)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "rules:\n", "rules: []\n", "---\n", "~\n"])
def test_no_rules(text: str) -> None:
    assert load(text) == []


@pytest.mark.parametrize(
    ("window", "seconds"),
    [("10s", 10), ("90s", 90), ("5m", 300), ("1h", 3600), ("7d", 7 * 86400), ("168h", 7 * 86400)],
)
def test_windows(window: str, seconds: int) -> None:
    (rule,) = load(f"rules:\n  - name: r\n    window: {window}\n")
    assert rule.window == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("yaml_value", "values"),
    [
        ("500", ("500",)),
        ('"500"', ("500",)),
        ("1.50", ("1.50",)),  # the text as written, as field.n=1.50 would be
        ("true", ("true",)),
        ("yes", ("yes",)),
        ("[500, 503]", ("500", "503")),
        ("'a,b'", ("a,b",)),
        ('""', ("",)),
    ],
)
def test_field_values_are_the_text_written(yaml_value: str, values: tuple[str, ...]) -> None:
    (rule,) = load(f"rules:\n  - name: r\n    window: 1m\n    fields: {{k: {yaml_value}}}\n")
    assert rule.fields == (FieldFilter("k", values),)


def test_levels_are_normalised() -> None:
    (rule,) = load("rules:\n  - name: r\n    window: 1m\n    level: warning\n")
    assert rule.query.levels == ("WARN",)


def refused(text: str) -> str:
    with pytest.raises(RulesError) as info:
        load(text)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - name: payment_errors\n    window: 5 minutes\n",
            "rules.yaml:3:13: rule 'payment_errors': window: must be a duration like 30s, 5m, 1h (got '5 minutes')",
        ),
        ("rules:\n  - name: r\n    window: 300\n", "rules.yaml:3:13: rule 'r': window: must be a duration like"),
        ("rules:\n  - name: r\n    window: 5s\n", "rules.yaml:3:13: rule 'r': window: must be between 10s and 7d"),
        ("rules:\n  - name: r\n    window: 8d\n", "rules.yaml:3:13: rule 'r': window: must be between 10s and 7d"),
        ("rules:\n  - name: r\n    window: ~\n", "rules.yaml:3:13: rule 'r': window: must not be empty"),
        ("rules:\n  - name: r\n    window: [5m]\n", "rules.yaml:3:13: rule 'r': window: must be a single value"),
        ("rules:\n  - name: r\n", "rules.yaml:2:5: rule 'r': window: is required"),
        ("rules:\n  - window: 5m\n", "rules.yaml:2:5: rule #1: name: is required"),
        (
            "rules:\n  - name: 1abc\n    window: 5m\n",
            "rules.yaml:2:11: rule #1: name: must match [a-zA-Z_][a-zA-Z0-9_]*",
        ),
        ("rules:\n  - name: a-b\n    window: 5m\n", "rules.yaml:2:11: rule #1: name: must match"),
        (
            "rules:\n  - name: r\n    widnow: 5m\n",
            "rules.yaml:3:5: rule 'r': unknown key 'widnow' (did you mean 'window'?)",
        ),
        (
            "rules:\n  - name: r\n    organization: a\n",
            "rules.yaml:3:5: rule 'r': unknown key 'organization' (did you mean 'organization_id'?)",
        ),
        (
            "rules:\n  - name: r\n    zzz: 1\n",
            "rules.yaml:3:5: rule 'r': unknown key 'zzz' (known keys: name, level, source, organization_id, q, fields,",
        ),
        ("rule:\n  - name: r\n", "rules.yaml:1:1: unknown key 'rule' (did you mean 'rules'?)"),
        (
            "rules:\n  - name: r\n    window: 5m\n    window: 1h\n",
            "rules.yaml:4:5: rule 'r': window: given twice (first on line 3)",
        ),
        (
            "rules:\n  - name: dup\n    window: 5m\n  - name: dup\n    window: 1h\n",
            "rules.yaml:4:11: rule 'dup': name: also the name of the rule on line 2; names must be unique",
        ),
        (
            "rules:\n  - name: r\n    window: 5m\n    level: [ERROR, LOUD]\n",
            "rules.yaml:4:20: rule 'r': level: must be",
        ),
        (
            "rules:\n  - name: r\n    window: 5m\n    level: []\n",
            "rules.yaml:4:12: rule 'r': level: must list at least one value",
        ),
        (
            "rules:\n  - name: r\n    window: 5m\n    source: ''\n",
            "rules.yaml:4:13: rule 'r': source: must be 1 to 255 printable",
        ),
        ("rules:\n  - name: r\n    window: 5m\n    q: '  '\n", "rules.yaml:4:8: rule 'r': q: must be non-empty"),
        (
            "rules:\n  - name: r\n    window: 5m\n    fields: [a]\n",
            "rules.yaml:4:13: rule 'r': fields must be a mapping",
        ),
        (
            "rules:\n  - name: r\n    window: 5m\n    fields: {a b: 1}\n",
            "rules.yaml:4:14: rule 'r': fields.a b: the key must be dot-separated parts",
        ),
        (
            "rules:\n  - name: r\n    window: 5m\n    fields: {a: ~}\n",
            "rules.yaml:4:17: rule 'r': fields.a: must not be empty",
        ),
        (
            "rules:\n  - name: r\n    window: 5m\n    fields: {a: {b: 1}}\n",
            "rules.yaml:4:17: rule 'r': fields.a: must be a single",
        ),
        ("rules:\n  - payment_errors\n", "rules.yaml:2:5: rule #1: a rule must be a mapping (name, level,"),
        ("rules: payment_errors\n", "rules.yaml:1:8: rules: must be a list of rules"),
        ("- name: r\n", "rules.yaml:1:1: the file must be a mapping (rules)"),
        ("rules:\n  - name: r\n    window: [5m\n", "rules.yaml:4:1: not valid YAML: expected ',' or ']'"),
        ("rules:\n\t- name: r\n", "rules.yaml:2:1: not valid YAML: found character '\\t'"),
        (
            "a: 1\n---\nb: 2\n",
            "rules.yaml:2:1: not valid YAML: expected a single document in the stream but found another",
        ),
        ("rules:\n  - name: r\n    q: a\x07\n", "rules.yaml:3:9: not valid YAML: character #x0007: special characters"),
        ("rules:\n  - name: r\n    window: *nowhere\n", "rules.yaml:3:13: not valid YAML: found undefined alias"),
    ],
)
def test_mistakes_name_file_line_column_and_reason(text: str, message: str) -> None:
    assert refused(text).startswith(message)


def test_too_many_fields_or_values() -> None:
    many = ", ".join(f"k{i}: x" for i in range(11))
    assert "fields: at most 10 fields" in refused(f"rules:\n  - name: r\n    window: 5m\n    fields: {{{many}}}\n")
    values = ", ".join(map(str, range(21)))
    assert "fields.k: must list at most 20 values" in refused(
        f"rules:\n  - name: r\n    window: 5m\n    fields: {{k: [{values}]}}\n"
    )


def test_too_many_rules() -> None:
    text = "rules:\n" + "".join(f"  - {{name: r{i}, window: 1m}}\n" for i in range(MAX_RULES + 1))
    assert refused(text) == f"rules.yaml:2:3: rules: at most {MAX_RULES} rules are allowed"


def test_the_error_carries_its_parts() -> None:
    with pytest.raises(RulesError) as info:
        load("rules:\n  - name: r\n    window: 5 minutes\n")
    error = info.value
    assert (error.source_name, error.line, error.column) == ("rules.yaml", 3, 13)
    assert error.reason.startswith("rule 'r': window:")


def test_tags_do_not_build_objects() -> None:
    # The safe composer reads nodes only; a Python tag is not a way to run code.
    message = refused("rules:\n  - name: r\n    window: !!python/object/apply:os.system ['true']\n")
    assert "window: must be a single value" in message


def test_aliases_do_not_multiply_work() -> None:
    text = "rules:\n  - &r {name: r, window: 1m}\n  - *r\n"
    assert "also the name of the rule on line 2" in refused(text)
