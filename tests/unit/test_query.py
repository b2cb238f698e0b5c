"""Query parameters (both spellings) → LogQuery → SQL, and the keyset cursor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.query import (
    COUNT_CAP,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    LogQuery,
    decode_cursor,
    encode_cursor,
    parse_query,
    parse_time,
)
from app.domain.query_sql import count_sql, select_sql
from app.domain.query_walks import (
    MAX_RECENT_SCAN,
    PREFILTERED_SCAN_FACTOR,
    first_scan,
    max_scan,
    next_scan,
    recent_sql,
    required_terms,
)
from app.errors import QueryError
from tests.support.params import query_params


def q(*pairs: tuple[str, str], default_limit: int = DEFAULT_LIMIT, default_page: int | None = None) -> LogQuery:
    return parse_query(query_params(pairs), default_limit=default_limit, default_page=default_page)


def test_defaults() -> None:
    query = q()
    assert (query.levels, query.limit, query.page, query.cursor, query.text) == ((), 100, None, None, None)


@pytest.mark.parametrize(
    ("pairs", "levels"),
    [
        ((("level", "error"),), ("ERROR",)),
        ((("level", "error"), ("level", "warning")), ("ERROR", "WARN")),
        ((("logLevel", "INFO,critical"),), ("FATAL", "INFO")),
        ((("level", "info"), ("logLevel", "INFO")), ("INFO",)),
    ],
)
def test_levels_both_spellings_repeatable(pairs: tuple[tuple[str, str], ...], levels: tuple[str, ...]) -> None:
    assert q(*pairs).levels == levels


def test_java_parameter_names() -> None:
    query = q(
        ("keyword", " database "),
        ("startTime", "2024-01-01T00:00:00"),
        ("endTime", "2024-01-02T00:00:00+02:00"),
        ("organizationId", "acme"),
        ("size", "50"),
        ("page", "2"),
    )
    assert query.text == "database"
    assert query.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert query.end == datetime(2024, 1, 1, 22, tzinfo=UTC)
    assert (query.organization_id, query.limit, query.page) == ("acme", 50, 2)
    assert q(("query", "x")).text == "x"


@pytest.mark.parametrize(
    ("pairs", "field", "rule"),
    [
        ((("level", "LOUD"),), "level", "one_of"),
        ((("limit", "0"),), "limit", "range"),
        ((("limit", str(MAX_LIMIT + 1)),), "limit", "range"),
        ((("size", "ten"),), "size", "integer"),
        ((("page", "-1"),), "page", "range"),
        ((("start", "yesterday"),), "start", "iso8601"),
        ((("start", "0001-01-01T00:00:00+05:00"),), "start", "range"),
        ((("sort", "oldest"),), "sort", "one_of"),
        ((("start", "2024-01-02"), ("end", "2024-01-01")), "start", "order"),
        ((("cursor", "garbage!"),), "cursor", "cursor"),
        ((("cursor", encode_cursor(Cursor("2024-01-01T00:00:00+00:00", "x"))), ("page", "1")), "cursor", "exclusive"),
    ],
)
def test_bad_parameters_name_field_and_rule(pairs: tuple[tuple[str, str], ...], field: str, rule: str) -> None:
    with pytest.raises(QueryError) as caught:
        q(*pairs)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_offset_given_as_space_in_query_string() -> None:
    assert parse_time("start", "2024-01-01T02:00:00 02:00") == datetime(2024, 1, 1, tzinfo=UTC)


def test_cursor_round_trip() -> None:
    cursor = Cursor("2024-01-01T00:00:00+00:00", "0b6f5c1e-0000-4000-8000-000000000000", 0.0607927)
    assert decode_cursor(encode_cursor(cursor)) == cursor


def test_spring_defaults_when_asked() -> None:
    query = q(default_limit=20, default_page=0)
    assert (query.limit, query.page) == (20, 0)
    cursor = encode_cursor(Cursor("2024-01-01T00:00:00+00:00", "x"))
    assert q(("cursor", cursor), default_limit=20, default_page=0).page is None


def test_sql_uses_parameters_for_every_value() -> None:
    query = q(("level", "error"), ("source", "x'; drop table logs; --"), ("q", "disk full"), ("organization_id", "o"))
    sql, args = select_sql(query)
    assert "drop table" not in sql
    assert args["source"] == "x'; drop table logs; --"
    assert "websearch_to_tsquery('simple', %(q)s)" in sql
    assert "ORDER BY (\"timestamp\" + interval '0 s') DESC, id DESC" in sql, "newest first, found by the GIN index"
    assert args["limit"] == 101


def test_text_search_is_newest_first_unless_relevance_is_asked_for() -> None:
    """Ranking scores every match before the limit; newest first can stop at the first ``limit``."""
    assert "ts_rank" not in select_sql(q(("q", "disk")))[0]
    ranked_sql, _ = select_sql(q(("q", "disk"), ("sort", "relevance")))
    assert "ORDER BY ts_rank" in ranked_sql
    assert "ts_rank" not in select_sql(q(("sort", "relevance")))[0], "nothing to rank without q"


def test_sql_keyset_and_offset() -> None:
    cursor = Cursor("2024-01-01T00:00:00+00:00", "0b6f5c1e-0000-4000-8000-000000000000")
    sql, args = select_sql(LogQuery(cursor=cursor))
    assert '("timestamp", id) < (%(c_ts)s::timestamptz, %(c_id)s::uuid)' in sql
    assert 'ORDER BY "timestamp" DESC, id DESC' in sql
    sql, args = select_sql(LogQuery(page=3, limit=20))
    assert "OFFSET %(offset)s" in sql and args["offset"] == 60


def test_a_source_without_a_level_walks_its_index_once_per_level() -> None:
    """The source index leads with (source, level): one ordered walk per level, merged; planned once."""
    sql, args = select_sql(q(("source", "api")))
    assert sql.count("CROSS JOIN LATERAL") == 1 and "UNION" not in sql
    assert args["branch_levels"] == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    assert "logs.level = branch.level AND source = %(source)s" in sql
    sql, args = select_sql(q(("source", "api"), ("level", "error")))
    assert "LATERAL" not in sql and "level = %(level)s" in sql and args["level"] == "ERROR"
    sql, args = select_sql(q(("source", "api"), ("level", "error"), ("level", "warn"), ("page", "2"), ("size", "10")))
    assert args["branch_levels"] == ["ERROR", "WARN"]
    assert (args["branch_rows"], args["limit"], args["offset"]) == (31, 11, 20), "each walk holds the offset too"


def test_long_walks_per_level_are_branches_that_a_merge_pulls_from_only_as_needed() -> None:
    """A LATERAL walk would fetch every level's rows in full; past LATERAL_MAX_ROWS, branches under a merge."""
    sql, args = select_sql(q(("source", "api"), ("page", "30"), ("size", "20")))
    assert "LATERAL" not in sql and sql.count("UNION ALL") == 5 and args["branch_rows"] == 621
    assert [args[f"level{i}"] for i in range(6)] == ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    sql, _ = recent_sql(q(("q", "disk"), ("level", "error"), ("level", "warn")))  # type: ignore[misc]
    assert "LATERAL" not in sql and sql.count("UNION ALL") == 1, "a text walk tests 20 rows per row of the page"


def test_text_is_looked_for_among_the_newest_rows_first() -> None:
    sql, args = recent_sql(q(("q", "disk full"), ("level", "error"), ("limit", "50")))  # type: ignore[misc]
    assert 'FROM logs WHERE level = %(level)s ORDER BY "timestamp" DESC, id DESC LIMIT %(limit)s' in sql
    assert sql.count("@@") == 1 and "interval '0 s'" not in sql
    assert (args["limit"], args["page_rows"], args["page_skip"]) == (20 * 51 * PREFILTERED_SCAN_FACTOR, 51, 0)
    _, args = recent_sql(q(("q", "disk-full"), ("page", "2"), ("size", "10")))  # type: ignore[misc]
    assert (args["limit"], args["page_rows"], args["page_skip"]) == (20 * 31, 11, 20)
    assert recent_sql(q(("q", "disk"), ("sort", "relevance"))) is None, "ranking needs every match"
    assert recent_sql(q(("level", "error"))) is None


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("payment declined", ("payment", "declined")),
        ("Payment  DECLINED payment", ("payment", "declined")),
        ('"disk almost" full', ("disk", "almost", "full")),
        ("4242", ("4242",)),
        ("error42 7", ("error42", "7")),
        ("payment or declined", ()),
        ("payment OR declined", ()),
        ("payment -declined", ()),
        ("payment-declined", ()),
        ("user's card", ()),
        ("café", ()),
        ("snake_case", ()),
        ("x" * 2048 + " disk", ("disk",)),
    ],
)
def test_required_terms_are_only_words_every_match_contains(text: str, terms: tuple[str, ...]) -> None:
    assert required_terms(text) == terms


def test_a_text_walk_rejects_rows_without_the_words_before_parsing_them() -> None:
    sql, args = recent_sql(q(("q", "Payment declined")))  # type: ignore[misc]
    assert "lower(message) LIKE ALL (%(q_terms)s) AND to_tsvector(" in sql
    assert args["q_terms"] == ["%payment%", "%declined%"]
    sql, args = recent_sql(q(("q", "payment or declined")))  # type: ignore[misc]
    assert "LIKE" not in sql and "q_terms" not in args


def test_a_walk_that_tests_the_words_first_goes_as_far_in_the_same_time() -> None:
    plain, other = q(("q", "payment declined"), ("limit", "50")), q(("q", "payment-declined"), ("limit", "50"))
    assert first_scan(plain) == PREFILTERED_SCAN_FACTOR * first_scan(other) == PREFILTERED_SCAN_FACTOR * 20 * 51
    assert max_scan(plain) == PREFILTERED_SCAN_FACTOR * max_scan(other) == PREFILTERED_SCAN_FACTOR * MAX_RECENT_SCAN
    assert next_scan(plain, 100_000, 40) == max_scan(plain) and next_scan(other, 100_000, 40) is None


def test_a_walk_for_text_grows_while_matches_thin_out_and_gives_way_to_the_gin_index() -> None:
    query = q(("q", "payment, declined"), ("limit", "50"))  # punctuation: no prefilter, the plain bounds
    assert first_scan(query) == 20 * 51
    assert next_scan(query, 1020, 0) is None, "no match at all: a rare text, for the GIN index"
    second = next_scan(query, 1020, 21)  # 21 of the 51 rows the page needs
    assert second is not None and second >= 2 * 1020 * 51 / 21 and second >= 4 * 1020
    third = next_scan(query, second, 21)
    assert third is not None and third > 4 * second - 1 and third <= MAX_RECENT_SCAN
    assert next_scan(query, 1020, 1) is None, "a page would take more than MAX_RECENT_SCAN rows"
    assert next_scan(query, 30_000, 40) == MAX_RECENT_SCAN
    assert next_scan(query, MAX_RECENT_SCAN, 50) is None, "the walk never passes its bound"
    page = q(("q", "disk,"), ("page", "2"), ("size", "10"))  # needs rows 21 to 31
    assert first_scan(page) == 20 * 31
    assert next_scan(page, 620, 0) is None and next_scan(page, 620, 5) == max(4 * 620, 2 * 620 * 31 // 25 + 1)


def test_count_is_bounded() -> None:
    sql, args = count_sql(LogQuery(levels=("INFO",)))
    assert "LIMIT %(cap)s" in sql and args["cap"] >= 10_000


def test_a_total_is_counted_ten_thousand_rows_past_its_page_at_most_to_the_deepest_page() -> None:
    assert count_sql(LogQuery(page=3, limit=20))[1]["cap"] == 60 + 20 + 10_000
    assert count_sql(LogQuery(page=4999, limit=20))[1]["cap"] == COUNT_CAP


def test_cache_keys_differ_by_query_and_scope() -> None:
    assert q(("level", "info")).cache_key("all") == q(("logLevel", "INFO")).cache_key("all")
    assert q(("level", "info")).cache_key("all") != q(("level", "error")).cache_key("all")
    assert q().cache_key("org:a") != q().cache_key("org:b")


def test_a_nul_character_in_any_parameter_is_refused_by_name() -> None:
    for name in ("q", "source", "organizationId", "start"):
        with pytest.raises(QueryError) as caught:
            q((name, "a\x00b"))
        assert (caught.value.field, caught.value.rule) == (name, "no_nul")


def test_offset_pages_stop_where_the_count_stops() -> None:
    assert q(("page", "999"), ("size", "100")).page == 999
    with pytest.raises(QueryError, match="go deeper with cursor") as caught:
        q(("page", "9223372036854775807"), ("size", "2"))
    assert caught.value.field == "page"
