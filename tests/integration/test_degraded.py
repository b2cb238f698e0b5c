"""Reads while PostgreSQL is away: the circuit breaker, stale answers from the cache, fast 503s.

The worker reaches PostgreSQL through a proxy the test cuts (connections
refused) or blackholes (silently dropped), while it keeps serving. Timings
are printed for people to read.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import orjson
import pytest

from app.domain.keys import hash_key, new_key
from tests.support.api import call, metric
from tests.support.deadlines import wait_for, within
from tests.support.kafka import wait_drained
from tests.support.rows import rows_of
from tests.support.workers import Worker, WorkerFactory, worker_cut_off_from_postgres

pytestmark = pytest.mark.integration

TTL = 1.0  # CACHE_QUERY_TTL and CACHE_STATS_TTL of the worker under test
RESET = 5.0  # PG_BREAKER_RESET, the default
READ_TIMEOUT = 2.0  # PG_READ_TIMEOUT of the worker under test
STALE = '110 - "Response is Stale"'


async def circuit(http: aiohttp.ClientSession, worker: Worker) -> str:
    _, body, _ = await call(http, "GET", worker.url + "/ready")
    return str(body["circuits"]["postgres"])


@pytest.mark.parametrize("cut", ["refused", "dropped"])
async def test_reads_answer_stale_or_fail_fast_while_postgres_is_away_and_fresh_once_it_returns(
    workers: WorkerFactory, broker: str, database_url: str, http: aiohttp.ClientSession, cut: str
) -> None:
    source = f"deg-{uuid.uuid4().hex[:6]}"
    env = {"CACHE_QUERY_TTL": str(TTL), "CACHE_STATS_TTL": str(TTL), "PG_READ_TIMEOUT": str(READ_TIMEOUT)}
    async with worker_cut_off_from_postgres(workers, database_url, **env) as (worker, proxy):
        api = worker.url
        accepted: list[str] = []
        for i in range(5):
            status, body, _ = await call(
                http, "POST", api + "/api/v1/logs", {"message": f"before {i}", "source": source}
            )
            assert status == 202, body
            accepted.append(body["id"])
        await wait_for(lambda: rows_of(database_url, source)[0] == 5, timeout=60, what="the first events stored")

        # Asked before the cut: every kind of read that goes to PostgreSQL, each answered fresh and cached.
        reads = [
            f"/api/v1/logs?source={source}",
            f"/gateway/api/query/search?keyword=before&source={source}",
            f"/gateway/api/query/logs?source={source}",
            f"/api/v1/logs/{accepted[0]}",
            "/api/v1/stats?hoursBack=1",
        ]
        before: dict[str, Any] = {}
        for path in reads:
            status, body, headers = await call(http, "GET", api + path)
            assert status == 200 and "Warning" not in headers and "Age" not in headers, (path, body)
            before[path] = body
        assert len(before[reads[0]]["content"]) == 5

        await (proxy.cut() if cut == "refused" else proxy.blackhole())
        for i in range(20):  # ingest keeps accepting into Kafka
            status, body, _ = await call(
                http, "POST", api + "/api/v1/logs", {"message": f"during {i}", "source": source}
            )
            assert status == 202, body
            accepted.append(body["id"])

        if cut == "refused":
            # Refused connections fail at once: three reads in a row open the breaker, no /ready needed.
            for i in range(3):
                status, body, _ = await call(http, "GET", f"{api}/api/v1/logs?source={source}-new{i}")
                assert (status, body["code"]) == (503, "database_unavailable"), body
        else:
            # Silence fails nothing by itself; the readiness probe's timeout opens the breaker.
            assert (await call(http, "GET", api + "/ready"))[0] == 503
        state = 'logpipe_circuit_state{dependency="postgres"}'
        assert await metric(http, worker.url, state) == 2.0, "open"

        # A query nobody asked before: 503 at once, the database not waited on. The open breaker refuses it
        # without trying (its message says so); a read that did try would wait PG_READ_TIMEOUT for the silence.
        timings = []
        for i in range(5):
            started = time.perf_counter()
            async with within(READ_TIMEOUT / 2, "a 503 from the open breaker"):
                status, body, headers = await call(http, "GET", f"{api}/api/v1/logs?source={source}-never{i}")
            timings.append(time.perf_counter() - started)
            assert (status, body["code"]) == (503, "database_unavailable"), body
            assert "circuit open" in body["message"], body
            assert 1 <= int(headers["Retry-After"]) <= RESET

        # Asked before the cut, long past its TTL: the same body, marked stale, its age told.
        ages: dict[str, int] = {}

        async def all_stale_and_old() -> bool:
            for path in reads:
                status, body, headers = await call(http, "GET", api + path)
                assert status == 200 and body == before[path], (path, body)
                if "Warning" not in headers:  # still within its TTL: a plain cache hit
                    return False
                assert headers["Warning"] == STALE, headers
                ages[path] = int(headers["Age"])
            return min(ages.values()) >= 5 * TTL

        await wait_for(all_stale_and_old, timeout=30, what="stale answers 5 TTLs old", interval=0.5)
        stale_served = await metric(http, worker.url, 'logpipe_stale_answers_total{kind="query"}')
        assert stale_served is not None and stale_served >= 3
        status, live, _ = await call(http, "GET", api + "/api/v1/stats")  # the count table, as ever
        assert status == 200 and live["total"] >= 5
        assert await circuit(http, worker) == "open"
        opened = await metric(http, worker.url, 'logpipe_circuit_transitions_total{dependency="postgres",state="open"}')
        assert opened is not None and opened >= 1

        await proxy.restore()
        requests = 0

        async def fresh() -> bool:
            nonlocal requests
            requests += 1
            status, _, headers = await call(http, "GET", api + reads[0])
            assert status in (200, 503), status
            return status == 200 and "Warning" not in headers

        # The breaker's next probe is at most RESET away; the probe itself is one request.
        to_fresh = await wait_for(
            fresh, timeout=RESET + 1.5, what="a fresh answer once PostgreSQL returned", interval=0.1
        )
        assert await circuit(http, worker) == "closed"
        assert await metric(http, worker.url, state) == 0.0

        # Nothing ingested while PostgreSQL was away is lost, nor stored twice; fresh answers show it.
        await wait_for(lambda: rows_of(database_url, source)[0] >= len(accepted), timeout=60, what="every row")
        await wait_drained(broker, workers.app_id)
        assert await asyncio.to_thread(rows_of, database_url, source) == (len(accepted), len(accepted))

        async def lists_everything() -> bool:
            status, body, _ = await call(http, "GET", f"{api}/api/v1/logs?source={source}&limit=100")
            return status == 200 and len(body["content"]) == len(accepted)

        await wait_for(lists_everything, timeout=10, what="a fresh query listing every event")
        print(
            f"\nPostgreSQL {cut}: new query 503 in {max(timings) * 1000:.1f} ms at most "
            f"(median {sorted(timings)[2] * 1000:.1f} ms); stale answers up to {max(ages.values())} s old "
            f"(TTL {TTL:g} s); fresh {to_fresh:.2f}s after it returned ({requests} requests, "
            f"PG_BREAKER_RESET {RESET:g} s); {len(accepted)} accepted = {len(accepted)} rows"
        )


async def test_a_stale_answer_never_crosses_tenants(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    acme, globex = new_key(), new_key()
    keys = {
        hash_key(acme): {"organization": "acme", "roles": ["ingest", "query"]},
        hash_key(globex): {"organization": "globex", "roles": ["ingest", "query"]},
    }
    env = {"AUTH_ENABLED": "true", "API_KEYS": orjson.dumps(keys).decode(), "CACHE_QUERY_TTL": str(TTL)}
    async with worker_cut_off_from_postgres(workers, database_url, **env) as (worker, proxy):
        api = worker.url
        source = f"tenant-{uuid.uuid4().hex[:6]}"
        status, body, _ = await call(
            http, "POST", api + "/api/v1/logs", {"message": "acme only", "source": source}, headers={"X-API-Key": acme}
        )
        assert status == 202, body
        await wait_for(lambda: rows_of(database_url, source)[0] == 1, timeout=60, what="the event stored")
        path = f"{api}/api/v1/logs?source={source}"
        status, before, _ = await call(http, "GET", path, headers={"X-API-Key": acme})
        assert status == 200 and len(before["content"]) == 1

        await proxy.cut()
        assert (await call(http, "GET", api + "/ready"))[0] == 503  # opens the breaker

        async def acme_stale() -> bool:
            status, body, headers = await call(http, "GET", path, headers={"X-API-Key": acme})
            assert status == 200 and body == before, body
            return headers.get("Warning") == STALE

        await wait_for(acme_stale, timeout=10, what="acme's answer served stale")
        # The same request by another organization: not acme's answer, stale or not.
        status, body, headers = await call(http, "GET", path, headers={"X-API-Key": globex})
        assert (status, body["code"]) == (503, "database_unavailable"), body
        assert "Warning" not in headers
        await proxy.restore()
