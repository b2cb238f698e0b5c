"""Token buckets in Redis, exact across workers, and in this worker alone while Redis is away."""

from __future__ import annotations

import time
from typing import Any, Literal

from app.domain.buckets import TAKE_SCRIPT, Bucket, Decision, LocalBuckets, decide
from app.ops.metrics import RATE_LIMIT_DECISIONS, RATE_LIMITED
from app.settings import Settings
from app.storage.cache import Cache

Limit = Literal["ingest", "batch", "query"]


class RateLimiter:
    """Token buckets in Redis (exact across workers), in this worker while Redis is away."""

    def __init__(self, cache: Cache, settings: Settings) -> None:
        self._cache = cache
        self._local = LocalBuckets()
        burst = settings.rate_limit_burst_seconds
        self._rates: dict[str, tuple[float, float]] = {
            name: (rate, rate * burst)
            for name, rate in (
                ("ingest", settings.rate_limit_ingest_rps),
                ("batch", settings.rate_limit_batch_rps),
                ("events", settings.rate_limit_events_per_second),
                ("query", settings.rate_limit_query_rps),
            )
        }

    def buckets(self, limit: Limit, identity: str, events: int = 0) -> list[Bucket]:
        def bucket(name: str, cost: float = 1.0) -> Bucket:
            rate, burst = self._rates[name]
            # A batch larger than the burst takes the whole bucket rather than never fitting.
            return Bucket(f"logpipe:ratelimit:{identity}:{name}", rate, burst, min(cost, burst))

        if limit == "query":
            return [bucket("query")]
        return [bucket(limit), bucket("events", events)]

    async def check(self, limit: Limit, identity: str, events: int = 0) -> Decision:
        buckets = self.buckets(limit, identity, events)
        args: list[Any] = [v for b in buckets for v in (b.rate, b.burst, b.cost)]
        answer = await self._cache.run_script(TAKE_SCRIPT, [b.name for b in buckets], args)
        if answer is None:
            RATE_LIMIT_DECISIONS.labels("local").inc()
            decision = self._local.take(buckets, time.monotonic())
        else:
            RATE_LIMIT_DECISIONS.labels("redis").inc()
            ok, *levels = (float(v) for v in answer)
            decision = decide(buckets, levels, allowed=ok == 1.0)
        if not decision.allowed:
            RATE_LIMITED.labels(limit).inc()
        return decision
