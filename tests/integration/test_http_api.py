"""The HTTP API over real HTTP: a worker with a real broker, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as redis
from openapi_spec_validator import validate

from app.domain.query import parse_query
from tests.support.api import call, metric
from tests.support.deadlines import wait_for
from tests.support.rows import query, row_count
from tests.support.stats import stats_match_rows
from tests.support.tcpproxy import proxied_url
from tests.support.workers import SUPPORTED_STORES, WorkerFactory

pytestmark = pytest.mark.integration


async def test_ingest_routes_and_get_by_id(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    api = (await workers.ready()).url
    ids = []
    for path in ("/api/v1/logs", "/api/logs", "/producer/api/logs/ingest"):
        status, body, _ = await call(
            http, "POST", api + path, {"level": "info", "message": f"via {path}", "source": "t"}
        )
        assert status == 202, body
        assert body["status"] == "accepted" and body["id"] == body["logId"]
        ids.append(body["id"])
    posted_at = time.monotonic()

    async def stored() -> bool:
        return (await call(http, "GET", f"{api}/api/v1/logs/{ids[0]}"))[0] == 200

    await wait_for(stored, timeout=10, what="the event to be readable", interval=0.05)
    visible_after = time.monotonic() - posted_at
    status, event, _ = await call(http, "GET", f"{api}/api/v1/logs/{ids[0]}")
    assert event["message"] == "via /api/v1/logs" and event["level"] == "INFO"
    assert event["organizationId"] is None and event["logLevel"] == "INFO"
    status, body, _ = await call(http, "GET", f"{api}/api/v1/logs/{uuid.uuid4()}")
    assert (status, body["code"]) == (404, "not_found")
    await wait_for(lambda: row_count(database_url) == 3, timeout=10, what="3 rows")
    print(f"\nPOST -> readable by id in {visible_after * 1000:.0f} ms (first events after start)")


async def test_readmes_curl_example_is_accepted(workers: WorkerFactory, database_url: str) -> None:
    # curl -d labels its JSON application/x-www-form-urlencoded, the type of Python's HTTPHandler forms.
    api = (await workers.ready()).url
    event = '{"level":"ERROR","message":"database connection failed","source":"user-service"}'
    done = await asyncio.to_thread(
        subprocess.run, ["curl", "-s", "-XPOST", f"{api}/api/v1/logs", "-d", event], capture_output=True, timeout=30
    )
    assert orjson.loads(done.stdout)["status"] == "accepted", done.stdout
    await wait_for(lambda: row_count(database_url) == 1, timeout=10, what="the row")
    assert await asyncio.to_thread(query, database_url, "SELECT level, message FROM logs") == [
        ("ERROR", "database connection failed")
    ]


async def test_batch_mixed_items_and_ndjson(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    api = (await workers.ready()).url
    items = [
        {"level": "INFO", "message": "ok 1", "source": "b"},
        {"level": "LOUD", "message": "bad level", "source": "b"},
        {"message": "", "source": "b"},
        {"logLevel": "warning", "message": "ok 2", "source": "b", "organizationId": "acme"},
    ]
    for path in ("/api/v1/logs/batch", "/producer/api/logs/batch"):
        status, body, _ = await call(http, "POST", api + path, items)
        assert status == 202, body
        assert (body["accepted"], body["rejected"], len(body["ids"])) == (2, 2, 2)
        assert [(e["index"], e["field"], e["rule"]) for e in body["errors"]] == [
            (1, "level", "one_of"),
            (2, "message", "not_blank"),
        ]
    ndjson = b'{"message": "nd 1", "source": "n"}\nnot json\n{"message": "nd 2", "source": "n"}\n'
    status, body, _ = await call(
        http, "POST", f"{api}/api/v1/logs/batch", ndjson, headers={"Content-Type": "application/x-ndjson"}
    )
    assert (status, body["accepted"], body["errors"][0]["rule"]) == (202, 2, "json")

    status, body, _ = await call(http, "POST", f"{api}/api/v1/logs/batch", [{"message": ""}])
    assert (status, body["code"]) == (422, "invalid_events")
    status, body, _ = await call(http, "POST", f"{api}/api/v1/logs/batch", {"not": "an array"})
    assert (status, body["code"]) == (400, "not_an_array")
    status, body, _ = await call(http, "POST", f"{api}/api/v1/logs", b"{")
    assert (status, body["code"]) == (400, "invalid_json")
    status, body, _ = await call(http, "POST", f"{api}/api/v1/logs", {"message": "m"})
    assert (status, body["errors"]) == (422, [{"field": "source", "rule": "required", "message": "is required"}])
    await wait_for(lambda: row_count(database_url) == 6, timeout=10, what="6 rows")


async def test_errors_openapi_and_docs(workers: WorkerFactory, http: aiohttp.ClientSession) -> None:
    api = (await workers.ready(INGEST_MAX_BODY_BYTES="4096")).url
    big = [{"message": "x" * 1000, "source": "s"}] * 10
    status, body, _ = await call(http, "POST", f"{api}/api/v1/logs/batch", big)
    assert (status, body["code"]) == (413, "payload_too_large")
    status, body, _ = await call(http, "GET", f"{api}/no/such/route")
    assert (status, body["code"]) == (404, "not_found")
    status, body, _ = await call(http, "DELETE", f"{api}/api/v1/stats")
    assert (status, body["code"]) == (405, "method_not_allowed")

    status, spec, _ = await call(http, "GET", f"{api}/openapi.json")
    assert status == 200
    validate(spec)
    async with http.get(f"{api}/docs") as response:
        assert response.status == 200 and "swagger-ui-bundle.js" in await response.text()
    async with http.get(f"{api}/docs/static/swagger-ui-bundle.js") as response:
        assert response.status == 200 and len(await response.read()) > 100_000


@pytest.mark.parametrize("store", SUPPORTED_STORES, indirect=True)
async def test_query_filters_search_stats_and_java_routes(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    worker = await workers.ready(CACHE_QUERY_TTL="0")
    api = worker.url
    events = [
        {"level": "ERROR", "message": "database connection refused", "source": "billing", "organizationId": "acme"},
        {"level": "INFO", "message": "user signed in", "source": "auth", "organizationId": "acme"},
        {"level": "WARN", "message": "slow database query", "source": "billing", "organizationId": "globex"},
        {
            "level": "INFO",
            "message": "distributed tracing enabled",
            "source": "auth",
            "timestamp": "2020-01-01T00:00:00",
        },
    ]
    status, _, _ = await call(http, "POST", f"{api}/api/v1/logs/batch", events)
    assert status == 202
    await wait_for(lambda: row_count(database_url) == 4, timeout=10, what="4 rows")

    async def messages(path: str) -> list[str]:
        status, body, _ = await call(http, "GET", api + path)
        assert status == 200, body
        return [e["message"] for e in body["content"]]

    assert await messages("/api/v1/logs?level=ERROR") == ["database connection refused"]
    assert sorted(await messages("/api/v1/logs?level=error&level=warn")) == [
        "database connection refused",
        "slow database query",
    ]
    assert len(await messages("/api/v1/logs?logLevel=INFO")) == 2
    assert sorted(await messages("/api/v1/logs?source=billing")) == [
        "database connection refused",
        "slow database query",
    ]
    assert len(await messages("/api/v1/logs?organization_id=acme")) == 2
    assert await messages("/api/v1/logs?end=2021-01-01T00:00:00") == ["distributed tracing enabled"]
    assert len(await messages("/api/v1/logs?startTime=2021-01-01T00:00:00Z")) == 3
    assert sorted(await messages("/api/v1/logs?q=database")) == ["database connection refused", "slow database query"]
    assert await messages("/api/v1/logs?keyword=distributed") == ["distributed tracing enabled"]
    assert await messages("/gateway/api/query/search?keyword=refused") == ["database connection refused"]

    status, page, _ = await call(http, "GET", f"{api}/gateway/api/query/logs?logLevel=INFO&page=0&size=1")
    assert status == 200
    assert (page["totalElements"], page["totalPages"], page["number"], page["size"], len(page["content"])) == (
        2,
        2,
        0,
        1,
        1,
    )
    assert page["first"] is True and page["last"] is False

    status, body, _ = await call(http, "GET", f"{api}/api/v1/logs?limit=5000")
    assert (status, body["code"], body["errors"][0]["field"]) == (400, "invalid_parameter", "limit")

    await wait_for(lambda: stats_match_rows(worker, database_url), timeout=20, what="stats = rows")
    for path in ("/api/v1/stats", "/api/v1/logs/stats", "/gateway/api/query/stats"):
        status, stats, _ = await call(http, "GET", api + path)
        assert (status, stats["total"], stats["levels"]) == (200, 4, {"ERROR": 1, "INFO": 2, "WARN": 1})
        assert stats["sources"] == {"auth": 2, "billing": 2} and stats["organizations"] == {"acme": 2, "globex": 1}
    status, stats, _ = await call(http, "GET", f"{api}/gateway/api/query/stats?hoursBack=24")
    assert (status, stats["window"]["total"], stats["window"]["levels"]) == (200, 3, {"ERROR": 1, "INFO": 1, "WARN": 1})

    for path, expected in [
        ("/health", {"status": "UP"}),
        ("/actuator/health", {"status": "UP"}),
        ("/producer/api/logs/health", {"status": "healthy"}),
        ("/gateway/api/query/health", {"status": "healthy"}),
    ]:
        assert (await call(http, "GET", api + path))[:2] == (200, expected)
    async with http.get(f"{api}/actuator/prometheus") as response:
        assert response.status == 200 and "logpipe_cache_requests_total" in await response.text()


async def test_keyset_pagination_is_stable_under_inserts(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    api = (await workers.ready()).url
    for chunk in range(5):
        batch = [{"message": f"seed {chunk}-{i}", "source": "page"} for i in range(500)]
        assert (await call(http, "POST", f"{api}/api/v1/logs/batch", batch))[0] == 202
    await wait_for(lambda: row_count(database_url) == 2500, timeout=30, what="2,500 rows")
    seeded = {str(r[0]) for r in await asyncio.to_thread(query, database_url, "SELECT id FROM logs")}

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        path = "/api/v1/logs?source=page&limit=100" + (f"&cursor={cursor}" if cursor else "")
        status, body, _ = await call(http, "GET", api + path)
        assert status == 200, body
        seen.extend(e["id"] for e in body["content"])
        pages += 1
        # New events arrive between pages; they are newer than the walk and must not disturb it.
        newer = [{"message": f"late {pages}-{i}", "source": "page"} for i in range(20)]
        assert (await call(http, "POST", f"{api}/api/v1/logs/batch", newer))[0] == 202
        cursor = body["next_cursor"]
        if cursor is None:
            break
    walked = [i for i in seen if i in seeded]
    assert len(walked) == len(set(walked)), "a row was repeated"
    assert set(walked) == seeded, f"{len(seeded - set(walked))} rows were missed"
    print(f"\nwalked {len(walked)} seeded rows in {pages} pages with {pages * 20} inserts between pages")


async def test_cache_hits_then_expires_and_survives_redis_outage(
    workers: WorkerFactory, redis_url: str, http: aiohttp.ClientSession
) -> None:
    with proxied_url(redis_url, 6379) as (proxied, proxy):
        # No stale answers: a cached answer's key then lives exactly its TTL.
        api = (await workers.ready(REDIS_URL=proxied, CACHE_QUERY_TTL="1.5", CACHE_STALE_MAX="0")).url

        async def counted(result: str) -> float:
            return await metric(http, api, f'logpipe_cache_requests_total{{kind="query",result="{result}"}}') or 0.0

        path = f"/api/v1/logs?source=cache-{uuid.uuid4().hex[:6]}"
        key = parse_query(_params(path)).cache_key("all")
        client = redis.Redis.from_url(redis_url)
        try:

            async def expired() -> bool:
                return not await client.exists(key)

            assert (await call(http, "GET", api + path))[0] == 200
            assert (await counted("miss"), await counted("hit")) == (1.0, 0.0)
            assert await client.exists(key)
            assert (await call(http, "GET", api + path))[0] == 200
            assert await counted("hit") == 1.0
            await wait_for(expired, timeout=10, what="the cached answer to expire")
            assert (await call(http, "GET", api + path))[0] == 200
            assert await counted("miss") == 2.0
        finally:
            await client.aclose()

        await proxy.cut()
        for route in (path, "/api/v1/stats", "/gateway/api/query/stats?hoursBack=1"):
            status, body, _ = await call(http, "GET", api + route)
            assert status == 200, (route, body)
        status, ready, headers = await call(http, "GET", f"{api}/ready")
        assert (status, ready["checks"]["redis"]["status"]) == (503, "down")
        assert ready["code"] == "not_ready" and "redis" in ready["message"] and int(headers["Retry-After"]) >= 1


async def test_ready_means_every_route_answers(workers: WorkerFactory, http: aiohttp.ClientSession) -> None:
    """The first 200 from /ready: stats (routed to the count table's owner) answers 200 at once too."""
    worker = await asyncio.to_thread(workers.make().start, wait_ready=False)
    stats_before_ready: set[int] = set()

    async def ready_now() -> bool:
        try:
            status, body, headers = await call(http, "GET", f"{worker.url}/ready")
        except aiohttp.ClientConnectionError:
            return False  # not serving HTTP yet
        if status != 200:
            assert body["code"] == "not_ready" and int(headers["Retry-After"]) >= 1, body
            stats, answer, stats_headers = await call(http, "GET", f"{worker.url}/api/v1/stats")
            if stats == 503:  # in logpipe's shape too, not Faust's {"error": ...}
                assert answer["code"] and answer["message"] and int(stats_headers["Retry-After"]) >= 1, answer
            stats_before_ready.add(stats)
        return status == 200

    await wait_for(ready_now, timeout=90, what="/ready 200", interval=0.02)
    status, body, _ = await call(http, "GET", f"{worker.url}/api/v1/stats")
    assert status == 200, body
    print(f"\nstats answered {sorted(stats_before_ready)} while /ready was 503, 200 once /ready was 200")


def _params(path: str) -> Any:
    from multidict import MultiDict
    from yarl import URL

    return MultiDict(URL(path).query)


async def test_numbers_beyond_64_bits_in_metadata_read_back(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    """PostgreSQL keeps 1e20 as the integer 100000000000000000000; reading it must not break the answer."""
    api = (await workers.ready()).url
    event = b'{"message": "big numbers", "source": "big", "metadata": {"big": 1e20, "huge": 1234567890123456789012345}}'
    status, body, _ = await call(http, "POST", api + "/api/v1/logs", event)
    assert status == 202, body
    await wait_for(lambda: row_count(database_url) == 1, timeout=30, what="the row")
    status, page, _ = await call(http, "GET", api + "/api/v1/logs?source=big")
    assert status == 200, page
    assert page["content"][0]["metadata"] == {"big": 1e20, "huge": 1.2345678901234568e24}
    status, one, _ = await call(http, "GET", api + f"/api/v1/logs/{body['id']}")
    assert status == 200 and one["metadata"]["big"] == 1e20
