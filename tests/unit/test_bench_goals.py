"""The bench's verdicts: each goal judged from its own run's figures, ratios within the same table size."""

from __future__ import annotations

from typing import Any

import pytest

from bench import goals


def _phase(copy: float, kafka: float, http: float, *, pg_us: float, copy_pg_us: float) -> dict[str, Any]:
    cpu = {"worker": 20.0, "PostgreSQL": pg_us, "broker": 5.0}
    return {
        "postgres_ceiling": {"copy_per_s": copy, "copy_pg_us_per_row": copy_pg_us},
        "kafka_path": {"events_per_s": kafka},
        "http_path": {"events_per_s": http},
        "cpu": {"kafka_path": {"us_per_event": cpu}, "http_path": {"us_per_event": {**cpu, "worker": 31.0}}},
    }


def _result(**overload: Any) -> dict[str, Any]:
    big = _phase(20_000, 13_000, 11_000, pg_us=40.0, copy_pg_us=30.0)
    big |= {
        "rows": 10_000_000,
        "queries_ms": {"all": {"worst_p95": 12.0}, "fields": {"worst_p95": 60.0}},
        "context_ms": {"all": {"worst_p95": 25.0}},
        "histogram_ms": {"counters": {"all": {"worst_p95": 90.0}}, "matches": {"all": {"worst_p95": 900.0}}},
        "stats_ms": {"p99": 2.0},
        "exports": {"org": {"rows": 10, "rows_per_s": 5.0, "rss_growth_mb": 3.0}},
    }
    over = {
        "rate": 5000,
        "seconds": 30,
        "accepted": 100,
        "accepted_p99": 80.0,
        "refused": 50,
        "refused_p99": 4.0,
        "refused_without_retry_after": 0,
        "failed": 0,
        "rss_max_mb": 200.0,
        "stored": 100,
    } | overload
    return {
        "empty": _phase(30_000, 22_000, 17_000, pg_us=30.0, copy_pg_us=25.0),
        "big": big,
        "capacity": {
            "capacity": 2000,
            "ladder": [
                {"rate": 1000.0, "p99": 8.0, "errors": 0},
                {"rate": 2000.0, "p99": 30.0, "errors": 0},
            ],
        },
        "overload": over,
        "end_to_end": {"rate": 5000, "p50": 30.0, "p99": 90.0},
    }


def verdicts(result: dict[str, Any]) -> dict[str, bool | None]:
    return {f.name: f.met for f in goals.figures(result)}


def test_each_ratio_is_taken_against_its_own_tables_ceiling() -> None:
    seen = verdicts(_result())
    assert seen["logs.raw -> rows, empty table"] is True  # 22,000 / 30,000 = 0.73
    assert seen["HTTP batches -> rows, empty table"] is False  # 17,000 / 30,000 = 0.57
    assert seen["logs.raw -> rows, 10,000,000 rows"] is False  # 13,000 / 20,000 = 0.65
    assert seen["HTTP batches -> rows, 10,000,000 rows"] is False
    assert seen["PostgreSQL CPU per row stored, 10,000,000 rows"] is False  # 40 > 1.2 x 30
    assert seen["worker CPU per event, logs.raw path"] is True
    assert seen["worker CPU per event, HTTP batch path"] is False


def test_post_latency_goals_read_the_ladder_and_the_overload() -> None:
    seen = verdicts(_result())
    assert seen["single POST at 1,000/s, rate limits on"] is True
    assert seen["single POST at 2,000/s, rate limits on"] is False  # 30 ms >= 25 ms
    assert seen["one worker's single-POST capacity (p99 < 50 ms)"] is False
    assert seen["overload at 5,000/s for 30s: answered p99"] is True
    assert seen["  the excess refused"] is True
    assert seen["  accepted events stored"] is True
    assert seen["end to end at 5,000 events/s, queryable"] is True
    assert seen["field filters worst p95"] is False
    assert seen["context around a hit worst p95"] is False  # 25 ms >= 20 ms
    assert seen["histogram over 24 h by level, source, organization, worst p95"] is True
    assert seen["histogram over 24 h by text or a field, worst p95"] is False


@pytest.mark.parametrize(
    ("change", "figure"),
    [
        ({"stored": 99}, "  accepted events stored"),
        ({"refused_without_retry_after": 1}, "  the excess refused"),
        ({"refused_p99": 12.0}, "  the excess refused"),
        ({"failed": 3}, "  connection timeouts and errors"),
        ({"rss_max_mb": 320.0}, "  worker RSS, highest"),
    ],
)
def test_an_overload_that_loses_hangs_or_bloats_misses(change: dict[str, Any], figure: str) -> None:
    assert verdicts(_result(**change))[figure] is False


def test_nothing_refused_is_no_verdict_on_refusals() -> None:
    assert verdicts(_result(refused=0))["  the excess refused"] is None


def test_a_rung_never_offered_is_a_miss_not_a_pass() -> None:
    result = _result()
    result["capacity"]["ladder"] = [{"rate": 500.0, "p99": 60.0, "errors": 0}]
    seen = verdicts(result)
    assert seen["single POST at 1,000/s, rate limits on"] is False
    assert (
        "not reached" in {f.name: f.measured for f in goals.figures(result)}["single POST at 1,000/s, rate limits on"]
    )


def test_sizing_scales_the_measured_costs() -> None:
    size = goals.sizing(100_000, worker_us=30, postgres_us=40, broker_us=5, bytes_per_event=250)
    assert size["worker_cores"] == pytest.approx(3.0)
    assert size["postgres_cores"] == pytest.approx(4.0)
    assert size["broker_in_mb_s"] == pytest.approx(50.0)  # logs.raw and logs.events
    line = goals.sizing_line(size)
    assert line.startswith("to hold 100,000 events/s: about 3.0 worker cores, 4.0 PostgreSQL cores")
