"""Rate limits: exact across workers through Redis, per worker while Redis is away, 429 over HTTP."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from app.settings import Settings
from app.storage.cache import Cache
from app.storage.limiter import RateLimiter
from devstack.servers import free_port
from tests.support.api import call
from tests.support.deadlines import within
from tests.support.tcpproxy import proxied_url
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration

# 20 tokens that refill at one per 100 s: nothing refills while a test runs.
SLOW = Settings(rate_limit_query_rps=0.01, rate_limit_burst_seconds=2000)


async def test_limits_are_exact_across_workers_and_loosen_to_per_worker_without_redis(redis_url: str) -> None:
    caches = [Cache(redis_url), Cache(redis_url)]  # two workers' clients on one Redis
    dead = Cache(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        limiters = [RateLimiter(cache, SLOW) for cache in caches]
        client = f"test-{uuid.uuid4().hex[:8]}"
        decisions = await asyncio.gather(*(limiters[i % 2].check("query", client) for i in range(200)))
        allowed = sum(d.allowed for d in decisions)
        assert allowed == 20, f"{allowed} of 200 allowed by two workers sharing a burst of 20"
        assert all(d.exact for d in decisions)
        refused = [d for d in decisions if not d.allowed]
        assert min(float(d.headers()["Retry-After"]) for d in refused) >= 99

        fallback = RateLimiter(dead, SLOW)
        local = [await fallback.check("query", client) for _ in range(30)]
        assert sum(d.allowed for d in local) == 20, "without Redis: this worker's own allowance, not none, not all"
        assert not any(d.exact for d in local)
        print("rate limits: 20 of 200 allowed across 2 workers via Redis; 20 of 30 by one worker without Redis")
    finally:
        for cache in [*caches, dead]:
            await cache.on_stop()


async def test_over_the_limit_is_429_with_headers_also_while_redis_is_down(
    workers: WorkerFactory, redis_url: str, http: aiohttp.ClientSession
) -> None:
    with proxied_url(redis_url, 6379) as (proxied, proxy):
        worker = await workers.ready(
            REDIS_URL=proxied,
            RATE_LIMITS_ENABLED="true",
            RATE_LIMIT_BATCH_RPS="1",
            RATE_LIMIT_QUERY_RPS="1",
            RATE_LIMIT_BURST_SECONDS="2",
        )
        api = worker.url
        batch = [{"message": "m", "source": "limits"}]
        answers = [await call(http, "POST", api + "/api/v1/logs/batch", batch) for _ in range(3)]
        assert [status for status, _, _ in answers] == [202, 202, 429]
        _, body, headers = answers[2]
        assert body["code"] == "rate_limited" and "batch posts" in body["message"]
        assert int(headers["Retry-After"]) >= 1
        assert headers["X-RateLimit-Limit"] == "1" and headers["X-RateLimit-Remaining"] == "0"
        assert answers[0][2]["X-RateLimit-Remaining"] == "1"
        reads = [(await call(http, "GET", api + "/api/v1/logs?limit=1"))[0] for _ in range(3)]
        assert reads == [200, 200, 429]
        assert (await call(http, "GET", api + "/health"))[0] == 200, "health is never limited"

        await proxy.cut()
        # A dead Redis costs the requests no waiting: were they to wait on it, they would outlive the deadline.
        async with within(3, "four reads while Redis is down"):
            reads = [(await call(http, "GET", api + "/api/v1/logs?limit=1"))[0] for _ in range(4)]
        assert reads[:2] == [200, 200] and 429 in reads[2:], f"per-worker limits while Redis is down: {reads}"
        async with http.get(api + "/metrics") as response:
            metrics = await response.text()
        assert 'logpipe_rate_limit_decisions_total{where="local"}' in metrics
        assert 'logpipe_rate_limited_total{limit="batch"} 1.0' in metrics
