"""The goals a bench run is held to, each beside its figure, and the sizing line its costs add up to.

Pure: reads the result dictionary :mod:`bench.__main__` builds, so the
verdicts are tested without running anything. A ratio is always taken
within the same run (the same table size, the same neighbours on a shared
machine): the ceilings are measured next to the figures they judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    name: str
    measured: str
    goal: str = ""
    met: bool | None = None  # None: shown for context, no goal

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


def _ratio_rows(result: dict[str, Any], size: str, label: str) -> list[Figure]:
    phase = result[size]
    copy = phase["postgres_ceiling"]["copy_per_s"]
    rows = [Figure(f"ceiling: PostgreSQL COPY, {label}", f"{copy:,.0f} rows/s")]
    for key, name, share in (("kafka_path", "logs.raw -> rows", 0.7), ("http_path", "HTTP batches -> rows", 0.6)):
        rate = phase[key]["events_per_s"]
        rows.append(
            Figure(
                f"{name}, {label}",
                f"{rate:,.0f} events/s = {rate / copy:.2f} x COPY",
                f">= {share} x COPY",
                rate / copy >= share,
            )
        )
    return rows


def _cpu(result: dict[str, Any], phase: str, path: str, role: str) -> float:
    return float(result[phase]["cpu"][path]["us_per_event"][role])


def figures(result: dict[str, Any]) -> list[Figure]:
    """Every figure of the run, in the order a reader checks them."""
    rows = [
        *_ratio_rows(result, "empty", "empty table"),
        *_ratio_rows(result, "big", f"{result['big']['rows']:,} rows"),
    ]
    kafka_us, http_us = _cpu(result, "empty", "kafka_path", "worker"), _cpu(result, "empty", "http_path", "worker")
    rows.append(Figure("worker CPU per event, logs.raw path", f"{kafka_us:.1f} µs", "<= 25 µs", kafka_us <= 25))
    rows.append(Figure("worker CPU per event, HTTP batch path", f"{http_us:.1f} µs", "<= 30 µs", http_us <= 30))
    big = result["big"]
    copy_us = big["postgres_ceiling"]["copy_pg_us_per_row"]
    persist_us = _cpu(result, "big", "kafka_path", "PostgreSQL")
    rows.append(
        Figure(
            f"PostgreSQL CPU per row stored, {big['rows']:,} rows",
            f"{persist_us:.1f} µs = {persist_us / copy_us:.2f} x COPY's {copy_us:.1f} µs",
            "<= 1.2 x COPY",
            persist_us <= 1.2 * copy_us,
        )
    )
    rows += _post_rows(result)
    e2e = result["end_to_end"]
    rows.append(
        Figure(
            f"end to end at {e2e['rate']:,.0f} events/s, queryable",
            f"p50 {e2e['p50']:.0f} / p99 {e2e['p99']:.0f} ms",
            "p99 < 100 ms",
            e2e["p99"] < 100,
        )
    )
    worst, stats = big["queries_ms"]["all"]["worst_p95"], big["stats_ms"]["p99"]
    fields = big["queries_ms"]["fields"]["worst_p95"]
    rows.append(Figure(f"query worst p95, {big['rows']:,} rows", f"{worst:.1f} ms", "< 20 ms", worst < 20))
    rows.append(Figure("field filters worst p95", f"{fields:.1f} ms", "< 50 ms", fields < 50))
    context = big["context_ms"]["all"]["worst_p95"]
    rows.append(Figure("context around a hit worst p95", f"{context:.1f} ms", "< 20 ms", context < 20))
    for group, label in (("counters", "level, source, organization"), ("matches", "text or a field")):
        worst = big["histogram_ms"][group]["all"]["worst_p95"]
        rows.append(Figure(f"histogram over 24 h by {label}, worst p95", f"{worst:.1f} ms", "< 100 ms", worst < 100))
    rows.append(Figure(f"stats p99, {big['rows']:,} rows", f"{stats:.1f} ms", "< 5 ms", stats < 5))
    for name, export in big["exports"].items():
        growth, status = export["rss_growth_mb"], export.get("status", 200)
        measured = f"{export['rows']:,} rows, {export['rows_per_s']:,.0f} rows/s, worker RSS {growth:+.0f} MB"
        if status != 200:
            measured = f"answered {status}, not exported"
        rows.append(Figure(f"export: {name}", measured, "< 50 MB growth", status == 200 and growth < 50))
    return rows


def context_rows(result: dict[str, Any]) -> list[Figure]:
    """Figures without a goal of their own that explain the ones with one."""
    b, empty = result["broker_ceiling"], result["empty"]
    burst = result["end_to_end_after_burst"]
    rows = [
        Figure(
            "ceiling: aiokafka produce / consume + orjson",
            f"{b['produce_per_s']:,.0f} / {b['consume_per_s']:,.0f} msg/s",
        ),
        Figure(
            "ceiling: the persist statement alone, empty / big",
            f"{empty['postgres_ceiling']['statement_per_s']:,.0f} / "
            f"{result['big']['postgres_ceiling']['statement_per_s']:,.0f} rows/s",
        ),
    ]
    for name, label in (("otlp_path", "OTLP"), ("loki_path", "Loki")):
        rows.append(Figure(f"{label} protobuf batches -> rows", f"{empty[name]['events_per_s']:,.0f} events/s"))
    rows.append(
        Figure("end to end right after the bursts", f"p50 {burst['p50']:.0f} / p99 {burst['p99']:.0f} ms (queryable)")
    )
    ladder = ", ".join(f"{r['rate']:,.0f}/s {r['p99']:,.1f} ms" for r in result["capacity"]["ladder"])
    rows.append(Figure("single POST p99 by offered rate", ladder))
    big = result["big"]
    histograms = [item for group in big["histogram_ms"].values() for item in group.items()]
    for name, q in [*big["queries_ms"].items(), *big["context_ms"].items(), *histograms]:
        if name not in ("all", "fields"):
            failed = f", {q['failed']:.0f} of {q['n']:.0f} not answered 200" if q.get("failed") else ""
            measured = f"p50 {q['p50']:.1f} / p95 {q['p95']:.1f} / p99 {q['p99']:.1f} ms ({q['n']:.0f} asked{failed})"
            rows.append(Figure(f"query: {name}", measured))
    rows.append(Figure("worker RSS, steady state", f"{result['worker_rss_mb']:.0f} MB"))
    return rows


def _post_rows(result: dict[str, Any]) -> list[Figure]:
    ladder = {round(rung["rate"]): rung for rung in result["capacity"]["ladder"]}
    rows = []
    for rate, goal in ((1000, 10), (2000, 25)):
        rung = ladder.get(rate)
        measured = "not reached" if rung is None else f"p99 {rung['p99']:.1f} ms, {rung['errors']} errors"
        met = rung is not None and rung["p99"] < goal and not rung["errors"]
        rows.append(Figure(f"single POST at {rate:,}/s, rate limits on", measured, f"p99 < {goal} ms", met))
    capacity = result["capacity"]["capacity"]
    rows.append(
        Figure(
            "one worker's single-POST capacity (p99 < 50 ms)", f"{capacity:,.0f} req/s", ">= 2,500", capacity >= 2500
        )
    )
    over = result["overload"]
    rows += [
        Figure(
            f"overload at {over['rate']:,.0f}/s for {over['seconds']:.0f}s: answered p99",
            f"{over['accepted_p99']:.0f} ms ({over['accepted']:,} accepted)",
            "< 100 ms",
            over["accepted_p99"] < 100,
        ),
        Figure(
            "  the excess refused",
            f"{over['refused']:,}, p99 {over['refused_p99']:.1f} ms, {over['refused_without_retry_after']} without"
            " Retry-After",
            "< 10 ms, 503/429 + Retry-After",
            over["refused_p99"] < 10 and not over["refused_without_retry_after"] if over["refused"] else None,
        ),
        Figure("  connection timeouts and errors", f"{over['failed']:,}", "0", over["failed"] == 0),
        Figure("  worker RSS, highest", f"{over['rss_max_mb']:.0f} MB", "< 300 MB", over["rss_max_mb"] < 300),
        Figure(
            "  accepted events stored",
            f"{over['stored']:,} of {over['accepted']:,}",
            "every one",
            over["stored"] >= over["accepted"],
        ),
    ]
    return rows


def sizing(
    events_per_s: float, *, worker_us: float, postgres_us: float, broker_us: float, bytes_per_event: float
) -> dict[str, float]:
    """Cores and broker traffic to hold ``events_per_s`` at the measured per-event costs.

    An event read from ``logs.raw`` crosses the broker twice (``logs.raw``
    in and out, then ``logs.events`` in and out); replication multiplies
    the bytes written by the topics' replication factor, not counted here.
    """
    return {
        "events_per_s": events_per_s,
        "worker_cores": events_per_s * worker_us / 1e6,
        "postgres_cores": events_per_s * postgres_us / 1e6,
        "broker_cores": events_per_s * broker_us / 1e6,
        "broker_in_mb_s": events_per_s * bytes_per_event * 2 / 1e6,
        "broker_out_mb_s": events_per_s * bytes_per_event * 2 / 1e6,
    }


def sizing_line(size: dict[str, float]) -> str:
    return (
        f"to hold {size['events_per_s']:,.0f} events/s: about {size['worker_cores']:.1f} worker cores,"
        f" {size['postgres_cores']:.1f} PostgreSQL cores, {size['broker_cores']:.1f} broker cores,"
        f" {size['broker_in_mb_s']:.1f} MB/s into the broker and {size['broker_out_mb_s']:.1f} MB/s out"
        " (before replication)"
    )


def render(rows: list[Figure]) -> str:
    width = max(len(r.name) for r in rows)
    measured = max(len(r.measured) for r in rows)
    goal = max(len(r.goal) for r in rows)
    lines = [
        f"{'figure':<{width}}  {'measured':<{measured}}  {'goal':<{goal}}  verdict",
        "-" * (width + measured + goal + 14),
    ]
    lines += [f"{r.name:<{width}}  {r.measured:<{measured}}  {r.goal:<{goal}}  {r.verdict}" for r in rows]
    return "\n".join(lines)
