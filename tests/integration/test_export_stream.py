"""Exports over real HTTP: every match newest first in NDJSON and CSV, per tenant, at flat memory, with clients that
leave and a PostgreSQL that goes away; and ``logpipe export`` writing them."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import orjson
import psutil
import psycopg2
import pytest

from tests.support.api import call
from tests.support.deadlines import wait_for
from tests.support.rows import query, row_count
from tests.support.tenants import ACME, GLOBEX, as_, secured_worker
from tests.support.workers import Worker, WorkerFactory, worker_cut_off_from_postgres

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SEEDED = 200_000


async def export(http: aiohttp.ClientSession, url: str, key: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    async with http.get(url, **(as_(key) if key else {})) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_an_export_is_every_match_newest_first_of_one_tenant(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    worker = await secured_worker(workers)
    api = worker.url
    now = datetime.now(UTC)
    acme = [
        {
            "message": f"status={(200, 500)[i % 2]} n={i}" + (' msg="a, \\"quoted\\"\nline"' if i == 7 else ""),
            "source": "api",
            "level": ("INFO", "ERROR", "WARN")[i % 3],
            "timestamp": (now - timedelta(milliseconds=10 * i)).isoformat(),
        }
        for i in range(2500)
    ]
    assert (await call(http, "POST", f"{api}/api/v1/logs/batch", acme, **as_(ACME)))[0] == 202
    globex = [{"message": f"status=500 g{i}", "source": "api", "level": "ERROR"} for i in range(10)]
    assert (await call(http, "POST", f"{api}/api/v1/logs/batch", globex, **as_(GLOBEX)))[0] == 202
    await wait_for(lambda: row_count(database_url) == 2510, timeout=60, what="2,510 rows")

    status, body, headers = await export(http, f"{api}/api/v1/logs/export?limit=5&page=2", ACME)
    assert status == 200, body[:500]
    assert headers["Content-Type"] == "application/x-ndjson"
    assert (
        headers["Content-Disposition"].startswith('attachment; filename="logpipe-')
        and ".ndjson" in headers["Content-Disposition"]
    )
    events = [orjson.loads(line) for line in body.splitlines()]
    assert [e["message"] for e in events] == [e["message"] for e in acme], "every one, newest first, paging ignored"
    assert {e["organization_id"] for e in events} == {"acme"}

    url = f"{api}/api/v1/logs/export?format=csv&level=ERROR&field.status=500"
    status, body, headers = await export(http, url, ACME)
    assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body.decode(), newline="")))
    wanted = [e for i, e in enumerate(acme) if i % 2 == 1 and i % 3 == 1]
    assert [row["message"] for row in rows] == [e["message"] for e in wanted] and len(rows) == 417
    assert acme[7] in wanted, "a message with a comma, quotes and a line break reads back whole"

    status, body, _ = await export(http, f"{api}/api/v1/logs/export", GLOBEX)
    assert sorted(orjson.loads(line)["message"] for line in body.splitlines()) == sorted(e["message"] for e in globex)
    status, body, _ = await export(http, f"{api}/api/v1/logs/export?organization_id=globex", ACME)
    assert status == 403 and orjson.loads(body)["errors"][0]["rule"] == "tenant"
    status, body, _ = await export(http, f"{api}/api/v1/logs/export?format=xlsx", ACME)
    assert status == 400 and orjson.loads(body)["errors"][0] == {
        "field": "format",
        "rule": "one_of",
        "message": "must be one of ndjson, csv",
    }
    assert (await export(http, f"{api}/api/v1/logs/export"))[0] == 401

    cli = _cli_export(worker, tmp_path, "--level", "ERROR", "--field", "status=500", "--format", "csv")
    assert cli.read_bytes() == (await export(http, url, ACME))[1]
    piped = _logpipe(worker, "export", "--org", "acme", "--source", "api", "-q", "status")
    assert piped.returncode == 0, piped.stderr
    assert len(piped.stdout.splitlines()) == 2500 and "exported 2,500 lines to stdout" in piped.stderr


def _logpipe(worker: Worker, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**worker.env, "LOGPIPE_API_KEY": ACME}
    command = [sys.executable, "-m", "app.cli", *args, "--url", worker.url]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def _cli_export(worker: Worker, tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "errors.csv"
    done = _logpipe(worker, "export", *args, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"exported 419 lines to {out}" in done.stderr  # the header, 417 events, one with a line break inside
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".errors.csv")] == [], "no partial file left"
    return out


def seed(database_url: str, rows: int = SEEDED) -> None:
    """``rows`` events of ~300 bytes each over the last few hours, straight into PostgreSQL."""
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO logs (id, "timestamp", level, message, source, metadata)
               SELECT gen_random_uuid(), now() - i * interval '50 ms', 'INFO', 'event ' || i || ' ' || repeat('x', 280),
                      'seeded', jsonb_build_object('fields', jsonb_build_object('n', i))
               FROM generate_series(1, %s) AS i""",
            (rows,),
        )
        cur.execute("ANALYZE logs")
    conn.close()


async def _read_all(http: aiohttp.ClientSession, url: str) -> int:
    lines = 0
    async with http.get(url) as response:
        assert response.status == 200
        async for chunk in response.content.iter_chunked(1 << 20):
            lines += chunk.count(b"\n")
    return lines


async def _leave_early(http: aiohttp.ClientSession, url: str) -> None:
    async with http.get(url) as response:
        assert response.status == 200
        assert len(await response.content.readexactly(256 * 1024)) == 256 * 1024
        response.close()  # mid-stream: the worker is still writing


def _rss_mb(worker: Worker) -> float:
    assert worker.process is not None
    return float(psutil.Process(worker.process.pid).memory_info().rss) / 2**20


def active_queries(database_url: str) -> int:
    (row,) = query(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
        " AND pid <> pg_backend_pid()",
    )
    return int(row[0])


async def test_an_export_holds_one_page_and_a_client_that_leaves_leaves_nothing_behind(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    worker = await workers.ready(PG_POOL_SIZE="4")
    await asyncio.to_thread(seed, database_url)
    url = f"{worker.url}/api/v1/logs/export?source=seeded"
    assert await _read_all(http, url + "&field.n=1,2,3") == 3  # warm: every code path of an export loaded
    before = _rss_mb(worker)
    started = time.perf_counter()
    assert await _read_all(http, url) == SEEDED
    took = time.perf_counter() - started
    grown = _rss_mb(worker) - before
    # The export is ~110 MB of NDJSON; a worker that held it, or let it pile up unsent, would grow by that much.
    assert grown < 40, f"the worker grew by {grown:.0f} MB during an export"
    rate = SEEDED / took
    print(f"\nexport of {SEEDED:,} rows: {took:.1f} s, {rate:,.0f} rows/s; worker RSS {before:.0f} MB, {grown:+.0f} MB")

    for _ in range(10):  # more than the pool's 4 connections: a leaked one per client would exhaust it
        await _leave_early(http, url)
    await wait_for(lambda: active_queries(database_url) == 0, timeout=30, what="no query left running")
    await wait_for(
        lambda: worker.log_tail(100_000).count("export ended after") >= 10, timeout=30, what="each export to end"
    )
    statuses = []
    for _ in range(6):
        status, _, _ = await call(http, "GET", f"{worker.url}/api/v1/logs?source=seeded&limit=1")
        statuses.append(status)
    assert statuses == [200] * 6, "the pool still serves: no connection was kept by an export that was left"
    assert (await worker.fetch("/ready"))[0] == 200 and worker.alive
    assert await _read_all(http, url + "&field.n=5") == 1


async def test_an_export_answers_503_or_ends_cut_when_postgres_goes_away(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    async with worker_cut_off_from_postgres(workers, database_url, PG_BREAKER_RESET="1") as (worker, proxy):
        await asyncio.to_thread(seed, database_url)
        url = f"{worker.url}/api/v1/logs/export?source=seeded"
        async with http.get(url) as response:
            assert response.status == 200
            await response.content.readexactly(256 * 1024)
            await proxy.cut()
            with pytest.raises(aiohttp.ClientPayloadError):  # never a clean end: the export is known to be cut
                while await response.content.read(1 << 20):
                    pass
        await wait_for(lambda: "export cut off after" in worker.log_tail(100_000), timeout=30, what="the cut logged")

        status, body, headers = await export(http, url)
        assert status == 503 and orjson.loads(body)["code"] == "database_unavailable" and "Retry-After" in headers
        await proxy.restore()

        async def whole_again() -> bool:
            return await _read_all(http, url + "&field.n=7") == 1 if (await worker.fetch("/ready"))[0] == 200 else False

        await wait_for(whole_again, timeout=60, what="exports to work again")


def test_the_cli_export_help_is_on_the_list() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--help"], cwd=ROOT, capture_output=True, text=True, env=dict(os.environ)
    )
    assert "export" in done.stdout
