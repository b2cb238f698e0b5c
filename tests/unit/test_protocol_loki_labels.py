"""The Prometheus label string of Loki's protobuf push: Go-quoted values, strict syntax."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.protocols.loki_labels import parse_labels
from app.errors import BadBody


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("{}", {}),
        (" { } ", {}),
        ('{job="api"}', {"job": "api"}),
        ('{a="1", b = "2" ,}', {"a": "1", "b": "2"}),
        ('{_x9="v"}', {"_x9": "v"}),
        ('{a="x\\"y"}', {"a": 'x"y'}),
        ('{a="c:\\\\d"}', {"a": "c:\\d"}),
        ('{a="1\\n2\\t3\\r"}', {"a": "1\n2\t3\r"}),
        ('{a="\\u00e9\\U0001F600\\x41"}', {"a": "é😀A"}),
        ('{a="é😀"}', {"a": "é😀"}),
        ('{a=""}', {"a": ""}),
    ],
    ids=[
        "empty",
        "spaces",
        "one",
        "trailing-comma",
        "name-chars",
        "quote",
        "backslash",
        "controls",
        "unicode",
        "raw",
        "empty-value",
    ],
)
def test_parse_labels(text: str, labels: dict[str, str]) -> None:
    assert parse_labels(text) == labels


@pytest.mark.parametrize(
    "text",
    [
        "",
        'job="a"',
        '{job="a"',
        '{job="a"} extra',
        '{job="a" env="b"}',
        '{job="a",job="b"}',
        '{1job="a"}',
        '{job-name="a"}',
        "{job=a}",
        "{job='a'}",
        '{job="a\\q"}',
        '{job="a\\xff"}',
        '{job="a\\ud800"}',
        '{job="a\nb"}',
        '{job="a\\',
        '{job!="a"}',
        "{,}",
    ],
)
def test_parse_labels_refuses(text: str) -> None:
    with pytest.raises(BadBody) as caught:
        parse_labels(text)
    assert caught.value.code == "invalid_labels"


_label_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@given(st.dictionaries(_label_names, st.text(max_size=20), max_size=5))
def test_labels_round_trip(labels: dict[str, str]) -> None:
    text = "{" + ", ".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in labels.items()) + "}"
    assert parse_labels(text) == labels


@given(st.text(max_size=60))
def test_arbitrary_label_text_raises_only_bad_body(text: str) -> None:
    try:
        parse_labels(text)
    except BadBody:
        pass
