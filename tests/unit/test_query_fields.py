"""``field.KEY=`` filters in a query: parsed with the rest, part of its cache key, in every statement it makes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.field_filters import FieldFilter
from app.domain.histogram import histogram_sql, parse_histogram
from app.domain.query import Cursor, LogQuery, parse_query
from app.domain.query_sql import count_sql, select_sql, window_count_sql
from app.domain.query_walks import GIN_WINDOWS, PREFILTERED_SCAN_FACTOR, first_scan, gin_windows, recent_sql
from app.errors import QueryError
from tests.support.params import query_params

GIN_ORDER = "ORDER BY (\"timestamp\" + interval '0 s') DESC, id DESC"
CONTAINS = "metadata @> ANY(%(field0)s::jsonb[])"


def q(*pairs: tuple[str, str]) -> LogQuery:
    return parse_query(query_params(pairs))


def test_field_parameters_become_the_query_s_field_filters() -> None:
    query = q(("level", "error"), ("field.status", "500,404"), ("field.user.id", "u1"), ("field.status", "503"))
    assert query.fields == (FieldFilter("status", ("404", "500", "503")), FieldFilter("user.id", ("u1",)))
    assert query.levels == ("ERROR",)
    assert q(("field.status", "")).fields == (), "an empty value is ignored, like every empty parameter"


def test_a_bad_field_parameter_names_itself_and_the_rule() -> None:
    with pytest.raises(QueryError) as caught:
        q(("field.a b", "x"))
    assert (caught.value.field, caught.value.rule) == ("field.a b", "key")


def test_field_filters_are_part_of_the_cache_key() -> None:
    plain, filtered, other = q(), q(("field.status", "500")), q(("field.status", "404"))
    keys = {query.cache_key("all") for query in (plain, filtered, other)}
    assert len(keys) == 3
    assert q(("field.status", "500,404")).cache_key("all") == q(("field.status", "404,500")).cache_key("all")


def test_a_page_with_fields_is_found_through_the_gin_index_and_first_walked_for() -> None:
    query = q(("field.status", "500"), ("source", "api"))
    sql, args = select_sql(query)
    assert CONTAINS in sql and GIN_ORDER in sql, "the fallback: every match from the metadata index, sorted"
    assert args["field0"] == [
        '{"fields":{"status":"500"}}',
        '{"status":"500"}',
        '{"fields":{"status":500}}',
        '{"status":500}',
    ]
    walk = recent_sql(query)
    assert walk is not None
    sql, args = walk
    assert sql.index(CONTAINS) > sql.index(") AS newest"), "the walk passes the newest rows, then tests each"
    assert "interval '0 s'" not in sql and args["limit"] == first_scan(query) == 20 * 101 * PREFILTERED_SCAN_FACTOR
    assert recent_sql(q(("source", "api"))) is None, "nothing to test: one index walk answers"


def test_text_and_fields_together_are_both_tested_in_the_walk_and_in_the_gin_form() -> None:
    query = q(("q", "disk full"), ("field.host", "h1"))
    sql, _ = select_sql(query)
    assert "@@" in sql and CONTAINS in sql
    walk = recent_sql(query)
    assert walk is not None
    assert walk[0].count("@@") == 1 and walk[0].count("@>") == 1 and "LIKE ALL" in walk[0]
    assert recent_sql(dataclasses.replace(query, sort="relevance")) is None


def test_a_count_with_fields_lets_the_gin_index_find_the_matches() -> None:
    sql, _ = count_sql(q(("field.status", "500"), ("page", "0")))
    assert CONTAINS in sql and "ORDER BY" not in sql
    assert "ORDER BY" in count_sql(q(("page", "0")))[0]


def test_the_histogram_counts_only_what_the_fields_match() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    query = q(("field.status", "500"))
    sql, args = histogram_sql(query, parse_histogram(query_params(), query, now))
    assert CONTAINS in sql and "field0" in args


def test_a_window_count_is_bounded_by_its_window_and_keeps_every_filter() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    query = dataclasses.replace(
        q(("level", "error"), ("source", "api"), ("q", "timeout"), ("field.status", "500")),
        start=now - timedelta(days=30),
        limit=5,
        page=3,
    )
    sql, args = window_count_sql(query, now - timedelta(minutes=5), now)
    assert sql.startswith("SELECT count(*) FROM logs WHERE ") and "LIMIT" not in sql and "OFFSET" not in sql
    assert (args["start"], args["end"]) == (now - timedelta(minutes=5), now), "the window, not the query's range"
    assert {"level", "source", "q", "field0"} <= args.keys()


def test_the_live_tail_matches_fields_as_the_query_does() -> None:
    from app.kafka.tail_hub import matcher

    query = q(("field.status", "500"), ("field.user.id", "u1"))
    matches = matcher(query.levels, query.source, query.organization_id, query.text, query.fields)
    assert matches({"metadata": {"fields": {"status": 500, "user.id": "u1"}}})
    assert matches({"metadata": {"status": "500", "user": {"id": "u1"}}})
    assert not matches({"metadata": {"fields": {"status": 500}}}), "every key must match"
    assert not matches({"metadata": None}) and not matches({})
    assert matcher((), None, None, None)({"metadata": None}), "no filter: everything"


def test_the_gin_form_of_a_field_filter_is_first_asked_over_growing_windows_back_from_where_the_page_starts() -> None:
    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    query = q(("field.status", "500"))
    assert gin_windows(query, now) == [now - window for window in GIN_WINDOWS]
    assert gin_windows(dataclasses.replace(query, end=now - timedelta(days=1)), now)[0] == now - timedelta(
        days=1, minutes=10
    )
    paged = dataclasses.replace(query, cursor=Cursor("2026-01-01T12:00:00+00:00", "x"))
    assert gin_windows(paged, now)[1] == datetime(2026, 1, 1, 11, tzinfo=UTC), "back from the cursor"
    started = dataclasses.replace(query, start=now - timedelta(hours=2))
    assert gin_windows(started, now) == [now - timedelta(minutes=10), now - timedelta(hours=1)], (
        "the query covers the rest"
    )
    assert gin_windows(q(("q", "disk")), now) == [], "full text alone: as before"
    assert gin_windows(dataclasses.replace(q(("q", "disk"), ("field.a", "b")), sort="relevance"), now) == []
