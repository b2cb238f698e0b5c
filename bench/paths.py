"""The pipeline's own paths, end to end: logs.raw → rows, HTTP → rows, request latency."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiopg
import orjson
import psycopg2

from tests.support.kafka import produce

LEVELS = ("INFO", "WARN", "ERROR", "DEBUG")


def make_events(n: int, *, seed: str = "bench") -> list[dict[str, Any]]:
    """Wire-format events like real ones: varied level and source, a short message, small metadata.

    Without ids, as the shippers send them: the worker gives each a
    time-ordered one (from its Kafka record on ``logs.raw``, at receipt over
    HTTP), which is what the primary key sees in production.
    """
    now = datetime.now(UTC).isoformat()
    return [
        {
            "timestamp": now,
            "level": LEVELS[i % 4],
            "message": f"{seed} request {i} served in {i % 997} ms for user {i % 5003}",
            "source": f"svc-{i % 25}",
            "organization_id": f"org-{i % 7}",
            "trace_id": None,
            "metadata": {"route": "/api/orders", "status": 200 + i % 3},
        }
        for i in range(n)
    ]


ROWS_POLL_S = 0.05  # the shortest wait between two counts: how late wait_rows may see the last row
ROWS_POLL_MAX_S = 0.5


def _count_rows(cur: Any) -> int:
    cur.execute("SELECT count(*) FROM logs")
    return int(cur.fetchone()[0])


def row_count(database_url: str) -> int:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        n = _count_rows(cur)
    conn.close()
    return n


async def wait_rows(database_url: str, target: int, limit_s: float) -> float:
    """Seconds until ``target`` rows exist.

    ``count(*)`` reads the whole table, and the poll shares the cores with
    the pipeline it measures: at 300,000 rows PostgreSQL's parallel plan
    took three processes ~45 ms each, and a connection a poll forked another
    backend. So the polls share one connection, run without parallel
    workers, and are spaced by the rows still due at the rate seen so far:
    few while the end is far, every :data:`ROWS_POLL_S` near it.
    """
    started = time.perf_counter()
    conn = psycopg2.connect(database_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SET max_parallel_workers_per_gather = 0")
            first = rows = _count_rows(cur)
            while rows < target:
                elapsed = time.perf_counter() - started
                if elapsed > limit_s:
                    raise TimeoutError(f"{rows:,} of {target:,} rows after {limit_s:.0f}s")
                rate = (rows - first) / elapsed
                due_s = (target - rows) / rate if rate > 0 else 0.0
                await asyncio.sleep(min(max(due_s / 2, ROWS_POLL_S), ROWS_POLL_MAX_S))
                rows = _count_rows(cur)
    finally:
        conn.close()
    return time.perf_counter() - started


async def kafka_path(bootstrap: str, database_url: str, n: int) -> dict[str, float]:
    """N events produced to logs.raw as fast as a plain producer can; time until all are rows."""
    base = row_count(database_url)
    values = [orjson.dumps(e) for e in make_events(n, seed="raw")]
    started = time.perf_counter()
    await produce(bootstrap, "logs.raw", values)
    produced = time.perf_counter() - started
    await wait_rows(database_url, base + n, limit_s=max(120, n / 1000))
    total = time.perf_counter() - started
    return {"events": n, "produce_s": produced, "seconds": total, "events_per_s": n / total}


async def http_path(url: str, database_url: str, n: int, *, clients: int = 8, batch: int = 500) -> dict[str, float]:
    """N events through POST /api/v1/logs/batch by concurrent clients; time until all are rows."""
    bodies = [orjson.dumps(make_events(batch, seed="http")) for _ in range(max(n // batch, 1))]
    return await post_path(url, "/api/v1/logs/batch", bodies, batch, database_url, clients=clients)


async def post_path(
    url: str,
    path: str,
    bodies: list[bytes],
    per_body: int,
    database_url: str,
    *,
    headers: dict[str, str] | None = None,
    ok: int = 202,
    clients: int = 8,
) -> dict[str, float]:
    """Every body POSTed to ``path`` by concurrent clients (a refused one resent after its Retry-After, as a
    client should); time until all ``per_body`` events of each are rows."""
    base = row_count(database_url)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    deferred = 0

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal deferred
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                async with http.post(f"{url}{path}", data=body, headers=headers) as response:
                    if response.status == ok:
                        break
                    if response.status not in (429, 503):
                        raise RuntimeError(f"{path} refused a body: {response.status} {await response.text()}")
                    deferred += 1
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    accepted = time.perf_counter() - started
    total_events = len(bodies) * per_body
    await wait_rows(database_url, base + total_events, limit_s=max(120, total_events / 1000))
    total = time.perf_counter() - started
    return {
        "events": total_events,
        "accept_s": accepted,
        "seconds": total,
        "events_per_s": total_events / total,
        "deferred_requests": deferred,
    }


async def settle(url: str, database_url: str, limit_s: float = 120) -> float:
    """Seconds until the live counts hold every stored row: a throughput path ends when its rows are
    in PostgreSQL, while the count table may still be folding their deltas. Nothing is ingested
    meanwhile, so the stored rows are counted once."""
    started = time.perf_counter()
    stored = row_count(database_url)
    async with aiohttp.ClientSession() as http:
        while time.perf_counter() - started < limit_s:
            async with http.get(f"{url}/api/v1/stats") as response:
                total = (await response.json())["total"]
            if total >= stored:
                break
            await asyncio.sleep(0.2)
    return time.perf_counter() - started


def percentiles(samples: list[float], *points: float) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {f"p{p:g}": float("nan") for p in points}
    return {f"p{p:g}": ordered[min(int(len(ordered) * p / 100), len(ordered) - 1)] for p in points}


@dataclass
class OpenLoop:
    """What an open-loop run saw, request by request."""

    accepted_ms: list[float] = field(default_factory=list)
    refused_ms: list[float] = field(default_factory=list)  # answered 429 or 503
    refused_without_retry_after: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # no answer (timeouts, resets) or another status


async def open_loop_posts(url: str, rate: float, seconds: float, *, source: str = "bench") -> dict[str, Any]:
    """Single-event POSTs sent on a fixed schedule, not when the previous answered (no coordinated
    omission): each latency is measured from when its request was *due*.

    ``p50``/``p99`` are over every request; refusals (429/503, which must
    carry ``Retry-After``) and failures (no answer within 10 s, a reset,
    another status) are also counted apart, as the overload goals need.
    """
    total = int(rate * seconds)
    seen = OpenLoop()
    body = orjson.dumps({"level": "INFO", "message": "open loop", "source": source})
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:

        async def one(due: float) -> None:
            await asyncio.sleep(max(due - time.perf_counter(), 0))
            try:
                async with http.post(f"{url}/api/v1/logs", data=body) as response:
                    await response.read()
                    status, retry_after = response.status, response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as exc:
                seen.failed[type(exc).__name__] += 1
                return
            ms = (time.perf_counter() - due) * 1000
            if status == 202:
                seen.accepted_ms.append(ms)
            elif status in (429, 503):
                seen.refused_ms.append(ms)
                seen.refused_without_retry_after += retry_after is None
            else:
                seen.failed[str(status)] += 1

        start = time.perf_counter() + 0.1
        await asyncio.gather(*(one(start + i / rate) for i in range(total)))
    answered = seen.accepted_ms + seen.refused_ms
    return {
        "rate": rate,
        "requests": total,
        "accepted": len(seen.accepted_ms),
        "refused": len(seen.refused_ms),
        "refused_without_retry_after": seen.refused_without_retry_after,
        "failed": sum(seen.failed.values()),
        "errors": total - len(seen.accepted_ms),
        "error_kinds": {**seen.failed, **({"429/503": len(seen.refused_ms)} if seen.refused_ms else {})},
        **percentiles(answered, 50, 99, 99.9),
        "accepted_p99": percentiles(seen.accepted_ms, 99)["p99"],
        "refused_p99": percentiles(seen.refused_ms, 99)["p99"],
    }


async def count_source(database_url: str, source: str, target: int, limit_s: float) -> int:
    """Rows of ``source`` once there are ``target`` of them, or however many there are after ``limit_s``."""
    deadline = time.perf_counter() + limit_s
    async with aiopg.connect(database_url) as conn, conn.cursor() as cur:
        while True:
            await cur.execute("SELECT count(*) FROM logs WHERE source = %s", (source,))
            (rows,) = await cur.fetchone()
            if rows >= target or time.perf_counter() > deadline:
                return int(rows)
            await asyncio.sleep(0.2)


E2E_POLL_S = 0.01  # how often end_to_end asks which batches are queryable; the figure's resolution
# A constant lower bound lets the planner keep to today's partition: 1.5 ms a poll (p50), where
# one EXISTS probe per pending batch, the partitions pruned only at run time, took 12-17 ms.
_VISIBLE = """
SELECT DISTINCT "timestamp" FROM logs WHERE source = %(marker)s AND level = 'INFO' AND "timestamp" >= %(oldest)s
"""


async def end_to_end(url: str, database_url: str, rate: float, seconds: float, batch: int = 50) -> dict[str, Any]:
    """Events POSTed at ``rate``/s in batches of ``batch``; latency from each event's timestamp (its send).

    *Queryable* (``p50``/``p99``, what the target is about): when the poll
    that first finds the event's batch started (its snapshot holds the
    commit), so late by up to one poll interval, :data:`E2E_POLL_S` plus a
    poll's time. A batch's events share a timestamp that no other batch
    has, and a batch is one envelope written in one transaction, so it
    becomes visible at once.
    *Stored*: ``received_at``, which PostgreSQL sets when the persist
    transaction starts, so without that transaction's own time.
    """
    marker = f"e2e-{uuid.uuid4().hex[:8]}"
    sends = int(rate * seconds / batch)
    sent: list[datetime] = []  # each batch's timestamp: when its events were stamped and sent
    visible: dict[datetime, float] = {}  # a batch's timestamp -> when a poll first found it (time.time())

    async def watch(pool: aiopg.Pool, deadline: float) -> None:
        async with pool.acquire() as conn, conn.cursor() as cur:
            while len(visible) < sends and time.perf_counter() < deadline:
                if pending := [stamp for stamp in sent if stamp not in visible]:
                    started = time.time()
                    await cur.execute(_VISIBLE, {"oldest": min(pending), "marker": marker})
                    visible.update((stamp, started) for (stamp,) in await cur.fetchall() if stamp not in visible)
                await asyncio.sleep(E2E_POLL_S)

    async with aiohttp.ClientSession() as http, aiopg.create_pool(database_url, minsize=1, maxsize=1) as pool:

        async def one(due: float) -> None:
            await asyncio.sleep(max(due - time.perf_counter(), 0))
            stamp = datetime.now(UTC)
            while stamp in sent:  # the batch's key: never two batches with one timestamp
                stamp += timedelta(microseconds=1)
            sent.append(stamp)
            events = [
                {"level": "INFO", "message": f"{marker} {i}", "source": marker, "timestamp": stamp.isoformat()}
                for i in range(batch)
            ]
            async with http.post(f"{url}/api/v1/logs/batch", data=orjson.dumps(events)) as response:
                await response.read()

        start = time.perf_counter() + 0.1
        watcher = asyncio.create_task(watch(pool, start + seconds + 60))
        await asyncio.gather(*(one(start + i * batch / rate) for i in range(sends)))
        await watcher
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                'SELECT extract(epoch FROM received_at - "timestamp") * 1000 FROM logs WHERE source = %s', (marker,)
            )
            stored = [float(r[0]) for r in await cur.fetchall()]
    queryable = [(seen - stamp.timestamp()) * 1000 for stamp, seen in visible.items()]  # a batch's events share it
    return {
        "rate": rate,
        "events": len(stored),
        "batches_seen": len(visible),
        "batches_sent": sends,
        "poll_ms": E2E_POLL_S * 1000,
        **percentiles(queryable, 50, 99),
        "stored": percentiles(stored, 50, 99),
    }
