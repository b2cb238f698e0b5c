"""Histogram buckets: ``interval`` rules, the auto width, the SQL and the filled-in answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.histogram import Histogram, auto_seconds, histogram_body, histogram_sql, parse_histogram
from app.domain.query import LogQuery, parse_query
from app.errors import QueryError
from tests.support.params import query_params

NOW = datetime(2026, 1, 2, 12, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "seconds"),
    [(timedelta(hours=1), 60), (timedelta(hours=24), 1800), (timedelta(minutes=1), 1), (timedelta(days=7), 10800)],
)
def test_auto_gives_about_sixty_round_buckets(span: timedelta, seconds: int) -> None:
    assert auto_seconds(span) == seconds
    assert span.total_seconds() / seconds <= 60


@pytest.mark.parametrize(
    ("params", "seconds"),
    [({}, 1800), ({"interval": "auto"}, 1800), ({"interval": "5m"}, 300), ({"interval": "1d"}, 86400)],
)
def test_interval(params: dict[str, str], seconds: int) -> None:
    histogram = parse_histogram(query_params(params), LogQuery(), NOW)
    assert histogram.seconds == seconds and histogram.end == NOW and histogram.start == NOW - timedelta(hours=24)


@pytest.mark.parametrize(
    ("interval", "rule"), [("5x", "format"), ("0s", "range"), ("1s", "range"), ("-1m", "format"), ("m", "format")]
)
def test_interval_refused(interval: str, rule: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_histogram(query_params({"interval": interval}), LogQuery(), NOW)  # 1s over 24 h: 86,401 buckets
    assert (caught.value.field, caught.value.rule) == ("interval", rule)


def test_sql_takes_every_filter_and_the_default_range() -> None:
    query = parse_query(query_params({"level": "ERROR", "source": "api", "organization_id": "acme", "q": "timeout"}))
    sql, args = histogram_sql(query, parse_histogram(query_params(), query, NOW))
    for condition in (
        "level = %(level)s",
        "source = %(source)s",
        "organization_id = %(org)s",
        "@@",
        '"timestamp" >= %(start)s',
    ):
        assert condition in sql
    assert args["step"] == 1800 and args["end"] == NOW and "GROUP BY 1, 2" in sql


def test_body_fills_every_bucket_oldest_first() -> None:
    histogram = Histogram(NOW - timedelta(minutes=3), NOW, 60)
    epoch = int(datetime(2026, 1, 2, 11, 58, tzinfo=UTC).timestamp())
    body = histogram_body(histogram, [(epoch, "ERROR", 2), (epoch, "INFO", 3)])
    assert [b["start"] for b in body["buckets"]] == [f"2026-01-02T11:{m}:00+00:00" for m in ("57", "58", "59")] + [
        "2026-01-02T12:00:00+00:00"
    ]
    assert [b["total"] for b in body["buckets"]] == [0, 5, 0, 0]
    assert body["buckets"][1]["levels"] == {"ERROR": 2, "INFO": 3} and body["interval_seconds"] == 60


def test_whole_minutes_come_from_the_counters_and_only_the_edges_from_rows() -> None:
    query = parse_query(query_params({"level": "ERROR", "source": "api", "organization_id": "acme"}))
    histogram = Histogram(
        datetime(2026, 1, 2, 10, 0, 30, tzinfo=UTC), datetime(2026, 1, 2, 11, 59, 59, tzinfo=UTC), 300
    )
    sql, args = histogram_sql(query, histogram)
    assert "FROM log_volume " in sql and "FROM log_volume_delta " in sql  # counters and deltas not folded yet
    assert sql.count("FROM logs ") == 2  # the two ragged edges
    assert args["first"] == datetime(2026, 1, 2, 10, 1, tzinfo=UTC)  # 10:00:30 starts inside a minute
    assert args["last"] == datetime(2026, 1, 2, 11, 59, tzinfo=UTC)  # 11:59:59 counts, so its minute is rows
    assert sql.count("organization_id = %(org)s") == 4 and args["org"] == "acme"


@pytest.mark.parametrize(
    ("params", "seconds", "span"),
    [
        ({"q": "timeout"}, 300, timedelta(hours=2)),  # text is not kept per minute
        ({"field.status": "500"}, 300, timedelta(hours=2)),  # nor are fields
        ({}, 30, timedelta(hours=2)),  # a bucket shorter than a minute
        ({}, 60, timedelta(seconds=50)),  # no whole minute in the range
    ],
)
def test_what_the_counters_do_not_keep_is_counted_from_rows(
    params: dict[str, str], seconds: int, span: timedelta
) -> None:
    query = parse_query(query_params(params))
    sql, _ = histogram_sql(query, Histogram(NOW - span, NOW, seconds))
    assert "log_volume" not in sql and "FROM logs" in sql
