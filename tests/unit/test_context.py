"""``before``/``after`` parameter rules and the SQL of an event's context."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.domain.context import DEFAULT_CONTEXT, MAX_CONTEXT, ContextWindow, context_sql, parse_context
from app.errors import QueryError
from tests.support.params import query_params

HIT = (uuid.UUID(int=7), datetime(2026, 1, 2, tzinfo=UTC), "INFO", "m", "api", "acme", None, None)


@pytest.mark.parametrize(
    ("params", "window"),
    [
        ({}, ContextWindow(DEFAULT_CONTEXT, DEFAULT_CONTEXT)),
        ({"before": "0", "after": "500"}, ContextWindow(0, MAX_CONTEXT)),
        ({"before": "3"}, ContextWindow(3, DEFAULT_CONTEXT)),
        ({"after": ""}, ContextWindow(DEFAULT_CONTEXT, DEFAULT_CONTEXT)),
    ],
)
def test_parse_context(params: dict[str, str], window: ContextWindow) -> None:
    assert parse_context(query_params(params)) == window


@pytest.mark.parametrize(
    ("params", "field", "rule"),
    [
        ({"before": "501"}, "before", "range"),
        ({"after": "-1"}, "after", "range"),
        ({"after": "ten"}, "after", "integer"),
        ({"before": "1\x00"}, "before", "no_nul"),
    ],
)
def test_parse_context_refuses(params: dict[str, str], field: str, rule: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_context(query_params(params))
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_older_side_walks_newest_first_within_source_and_organization() -> None:
    sql, args = context_sql(HIT, 5, newer=False)
    assert 'ORDER BY "timestamp" DESC, id DESC LIMIT %(rows)s' in sql
    assert '("timestamp", id) < (' in sql
    assert "logs.organization_id = %(org)s" in sql and args["org"] == "acme"
    assert args["source"] == "api" and args["rows"] == 5 and args["id"] == str(HIT[0])
    assert "LATERAL" in sql  # one walk per level of the (source, level, timestamp) index


def test_newer_side_walks_oldest_first_and_null_organization_is_is_null() -> None:
    sql, args = context_sql((*HIT[:5], None, *HIT[6:]), 2, newer=True)
    assert 'ORDER BY "timestamp" ASC, id ASC' in sql and '("timestamp", id) > (' in sql
    assert "organization_id IS NULL" in sql and "org" not in args
