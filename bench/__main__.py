"""``python -m bench`` (``make bench``): measure, print a table with the targets, write JSON.

Starts its own broker and worker (fresh database ``logpipe_bench`` on the
PostgreSQL that ``DATABASE_URL`` names, or an embedded one), so runs are
comparable; measures the ceilings first, on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiopg
import orjson
import psutil

from app.storage import partitions
from bench import ceilings, goals, overload, paths, profile, queries, shippers
from bench.stack import VAR, Stack, stack

# Rate limits stay on (their cost is part of every request) with allowances no bench client reaches.
RATE_LIMITS = {
    "RATE_LIMITS_ENABLED": "true",
    "RATE_LIMIT_INGEST_RPS": "1000000",
    "RATE_LIMIT_BATCH_RPS": "1000000",
    "RATE_LIMIT_EVENTS_PER_SECOND": "100000000",
    "RATE_LIMIT_QUERY_RPS": "1000000",
}


def step(message: str) -> None:
    print(f"bench | {message}", file=sys.stderr, flush=True)


class Run:
    """One bench run against one stack: the measurements in order, each path's CPU split by process."""

    def __init__(self, args: argparse.Namespace, s: Stack) -> None:
        self.args, self.s = args, s
        self.url = s.worker.url
        self.pid: int = s.worker.process.pid  # type: ignore[union-attr]

    def cpu(self) -> profile.CpuSplit:
        return profile.CpuSplit(self.pid, self.s.broker_pid)

    @contextlib.contextmanager
    def watched(self, cpu: dict[str, Any], name: str, tag: str = "") -> Iterator[dict[str, int]]:
        """CPU used by each process role during a path, per event (the block sets ``["events"]`` in what it
        is given); with ``--profile``, a py-spy sample of the worker."""
        out = self.args.out.parent / f"profile-{name}{tag}.txt"
        sampler = profile.sampling(self.pid, out) if self.args.profile else contextlib.nullcontext()
        counted = {"events": 0}
        with sampler, self.cpu() as split:
            yield counted
        n = counted["events"]
        cpu[name] = {"cores": split.cores(), "us_per_event": split.per_event_us(n), "events": n}

    async def throughput(self, label: str, *, big: bool) -> dict[str, Any]:
        """The PostgreSQL ceiling, then logs.raw and HTTP batches (and the shippers' protobufs) into ``logs``."""
        a, s, phase = self.args, self.s, {}
        cpu: dict[str, Any] = {}
        step(f"{label}: PostgreSQL ceiling (COPY, then the persist statement) with {a.ceiling_events:,} rows ...")
        sample = paths.make_events(a.ceiling_events, seed="ceiling")
        phase["postgres_ceiling"] = ceilings.postgres_ceiling(s.database_url, sample, self.cpu)
        step(f"  COPY {phase['postgres_ceiling']['copy_per_s']:,.0f} rows/s")
        runs: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
            ("kafka_path", lambda: paths.kafka_path(s.bootstrap, s.database_url, a.events)),
            ("http_path", lambda: paths.http_path(self.url, s.database_url, a.http_events)),
        ]
        if not big:
            runs += [
                ("otlp_path", lambda: shippers.otlp_path(self.url, s.database_url, a.http_events)),
                ("loki_path", lambda: shippers.loki_path(self.url, s.database_url, a.http_events)),
            ]
        for name, path in runs:
            step(f"{label}: {name.replace('_', ' ')} ...")
            with self.watched(cpu, name, "-big" if big else "") as counted:
                phase[name] = await path()
                counted["events"] = int(phase[name]["events"])
            step(f"  {phase[name]['events_per_s']:,.0f} events/s")
        phase["cpu"] = cpu
        return phase

    async def latency(self, result: dict[str, Any]) -> None:
        """End to end, the single-POST capacity ladder and the overload, on the still small table."""
        a, s = self.args, self.s
        step("waiting for the live counts to catch up with the stored rows ...")
        result["settle_s"] = await paths.settle(self.url, s.database_url)
        # The first run still meets what the bursts left behind (autovacuum, checkpoints, warm caches):
        # reported apart, so that the steady figure the goal applies to is measured as such.
        for key, when in (("end_to_end_after_burst", "right after the bursts"), ("end_to_end", "steady")):
            step(f"end to end at {a.e2e_rate:,} events/s for {a.seconds}s, {when} ...")
            e2e = result[key] = await paths.end_to_end(self.url, s.database_url, a.e2e_rate, a.seconds)
            step(f"  queryable p50 {e2e['p50']:,.0f} ms, p99 {e2e['p99']:,.0f} ms")
        result["worker_rss_mb"] = psutil.Process(self.pid).memory_info().rss / 2**20
        step(f"single-event POSTs, open loop, {a.seconds}s a rung, until p99 passes 50 ms ...")
        cpu: dict[str, Any] = {}
        with self.watched(cpu, "single_post") as counted:
            result["capacity"] = await overload.capacity(self.url, a.seconds, rungs=a.rungs, step=step)
            counted["events"] = sum(r["requests"] for r in result["capacity"]["ladder"])
        result["cpu"] = cpu
        rate = 2 * max(result["capacity"]["capacity"], a.rungs[0])
        step(f"overload: {rate:,.0f} POSTs/s for {a.overload_seconds}s ...")
        result["overload"] = await overload.overload(self.url, s.database_url, rate, a.overload_seconds, self.pid)
        over = result["overload"]
        step(f"  {over['accepted']:,} accepted (p99 {over['accepted_p99']:,.0f} ms), {over['refused']:,} refused")

    async def big_table(self, result: dict[str, Any]) -> dict[str, Any]:
        """Grow today's partition to ``--rows`` rows, then the throughput again, the queries, exports, stats."""
        a, s = self.args, self.s
        have = paths.row_count(s.database_url)
        step(f"seeding {max(a.rows - have, 0):,} rows into today's partition ({have:,} there) ...")
        seeded = queries.seed(s.database_url, max(a.rows - have, 0))
        step(f"  {seeded['seconds']:.0f}s")
        async with aiopg.create_pool(s.database_url, minsize=1, maxsize=1) as pool:
            await partitions.maintain(pool, days_ahead=1, retention_days=7)
        queries.analyze(s.database_url)
        rows = paths.row_count(s.database_url)
        big = {"rows": rows, "seed": seeded, **await self.throughput(f"{rows:,} rows", big=True)}
        queries.analyze(s.database_url)
        step("query and stats latency ...")
        big["queries_ms"] = await queries.query_latency(self.url, a.repeats)
        step("context and histogram latency ...")
        big["context_ms"] = await queries.context_latency(self.url, s.database_url, a.repeats)
        big["histogram_ms"] = await queries.histogram_latency(self.url, max(a.repeats // 10, 3))
        step("exports ...")
        big["exports"] = await queries.export_latency(self.url, self.pid)
        big["stats_ms"] = await queries.stats_latency(self.url, a.repeats * 4)
        return big


async def run(args: argparse.Namespace, s: Stack) -> dict[str, Any]:
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {k: str(v) for k, v in vars(args).items()},
    }
    bench = Run(args, s)
    step(f"ceiling: plain aiokafka with {args.ceiling_events:,} events ...")
    sample = [orjson.dumps(e) for e in paths.make_events(args.ceiling_events, seed="ceiling")]
    result["broker_ceiling"] = await ceilings.broker_ceiling(s.bootstrap, sample)
    result["bytes_per_event"] = sum(map(len, sample)) / len(sample)
    result["empty"] = await bench.throughput("empty table", big=False)
    await bench.latency(result)
    result["big"] = await bench.big_table(result)
    if args.profile:
        result["profiles"] = {
            name: profile.summarize(args.out.parent / f"profile-{name}.txt")
            for name in ("kafka_path", "http_path", "single_post")
        }
    result["sizing"] = sizing(result)
    result["summary"] = summary(result)
    return result


def sizing(result: dict[str, Any]) -> dict[str, float]:
    """The big table's per-event costs on the logs.raw path, for the sizing line."""
    per_event = result["big"]["cpu"]["kafka_path"]["us_per_event"]
    return goals.sizing(
        100_000,
        worker_us=per_event["worker"],
        postgres_us=per_event["PostgreSQL"],
        broker_us=per_event["broker"],
        bytes_per_event=result["bytes_per_event"],
    )


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, flat, for scripts comparing runs."""
    empty, big = result["empty"], result["big"]
    return {
        "kafka_path_vs_copy": empty["kafka_path"]["events_per_s"] / empty["postgres_ceiling"]["copy_per_s"],
        "kafka_path_vs_copy_big": big["kafka_path"]["events_per_s"] / big["postgres_ceiling"]["copy_per_s"],
        "http_path_vs_copy": empty["http_path"]["events_per_s"] / empty["postgres_ceiling"]["copy_per_s"],
        "http_path_vs_copy_big": big["http_path"]["events_per_s"] / big["postgres_ceiling"]["copy_per_s"],
        "worker_us_per_event_kafka": empty["cpu"]["kafka_path"]["us_per_event"]["worker"],
        "worker_us_per_event_http": empty["cpu"]["http_path"]["us_per_event"]["worker"],
        "postgres_us_per_row_big": big["cpu"]["kafka_path"]["us_per_event"]["PostgreSQL"],
        "copy_postgres_us_per_row_big": big["postgres_ceiling"]["copy_pg_us_per_row"],
        "single_post_capacity": result["capacity"]["capacity"],
        "overload_accepted_p99_ms": result["overload"]["accepted_p99"],
        "e2e_p99_ms": result["end_to_end"]["p99"],
        "query_worst_p95_ms": big["queries_ms"]["all"]["worst_p95"],
        "context_worst_p95_ms": big["context_ms"]["all"]["worst_p95"],
        "histogram_worst_p95_ms": {group: h["all"]["worst_p95"] for group, h in big["histogram_ms"].items()},
        "stats_p99_ms": big["stats_ms"]["p99"],
        "goals_missed": [f.name for f in goals.figures(result) if f.met is False],
    }


def rungs(text: str) -> tuple[float, ...]:
    return tuple(sorted(float(r) for r in text.split(",")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events through logs.raw (default 200,000)")
    parser.add_argument("--http-events", type=int, default=100_000, help="events through HTTP batches")
    parser.add_argument("--ceiling-events", type=int, default=100_000, help="events for the ceilings")
    parser.add_argument(
        "--rungs",
        type=rungs,
        default=overload.RUNGS,
        help="single-POST rates offered, lowest first, until p99 passes 50 ms (default %(default)s)",
    )
    parser.add_argument("--overload-seconds", type=float, default=30, help="how long twice the capacity is offered")
    parser.add_argument("--e2e-rate", type=float, default=5000, help="events per second for end-to-end latency")
    parser.add_argument("--seconds", type=float, default=10, help="duration of each fixed-rate run")
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="rows in today's partition for the big table (default 10M)"
    )
    parser.add_argument("--repeats", type=int, default=50, help="requests per query kind")
    parser.add_argument(
        "--profile", action="store_true", help="sample the worker with py-spy during the throughput paths"
    )
    parser.add_argument("--out", type=Path, default=VAR / "latest.json")
    parser.add_argument("--work-dir", type=Path, default=VAR, help="where the bench's broker and worker keep data")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    database_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/logpipe")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if others := profile.other_workers():
        step(
            f"note: {len(others)} other logpipe worker(s) running (pid {', '.join(str(p.pid) for p in others)}),"
            " `make run`'s perhaps: they share these cores and lower every figure; stop them for clean numbers"
        )
    step(
        "starting a broker and a worker (fresh database logpipe_bench; the worker runs logpipe's defaults"
        " except auth and the response caches, which are off, and rate limits no bench client reaches) ..."
    )
    settings = {"CACHE_QUERY_TTL": "0", "CACHE_STATS_TTL": "0", **RATE_LIMITS}
    with stack(database_url, redis_url, args.work_dir, **settings) as s:
        result = asyncio.run(run(args, s))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(report(result))
    step(f"done in {time.perf_counter() - started:.0f}s; written to {args.out}")
    return 0


def report(result: dict[str, Any]) -> str:
    lines = [goals.render([*goals.figures(result), *goals.context_rows(result)])]
    lines.append("\nCPU by process while each path ran (cores busy; CPU µs per event):")
    for phase, label in (("empty", "empty table"), ("big", f"{result['big']['rows']:,} rows"), (None, "latency")):
        for name, split in (result[phase] if phase else result)["cpu"].items():
            shares = ", ".join(
                f"{role} {cores:.2f} ({split['us_per_event'][role]:.0f} µs)" for role, cores in split["cores"].items()
            )
            lines.append(f"  {name}, {label}: {shares}")
    lines.append("\nsizing, from the big table's logs.raw path: " + goals.sizing_line(result["sizing"]))
    for name, summary in result.get("profiles", {}).items():
        lines.append("\n" + profile.report(name, summary))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
