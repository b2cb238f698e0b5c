"""Rate limits on the HTTP API, per API key (or per client address when auth is off).

Reads (query, search, one event, stats, tail, dead letters) are limited by
the middleware, before the handler runs. Ingest is limited by its views,
once the body is parsed, because a batch is charged per event as well as
per request — still one Redis round trip per request. Every limited answer
carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``; a refused one
is 429 with ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast

from aiohttp import web as aioweb
from faust import web

from app.auth import ANONYMOUS, Principal
from app.metrics import RATE_LIMIT_DECISIONS, RATE_LIMITED
from app.ratelimit import TAKE_SCRIPT, Bucket, Decision, LocalBuckets, decide
from app.settings import Settings
from app.storage.cache import Cache
from app.web.auth import PRINCIPAL, role_of
from app.web.errors import error_response

Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]
Limit = Literal["ingest", "batch", "query"]
DECISION = "logpipe.ratelimit"


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


def identity_of(request: web.Request) -> str:
    """Whose allowance a request spends: its key's name, or its address when auth is off."""
    principal = cast(aioweb.Request, request).get(PRINCIPAL)
    if isinstance(principal, Principal) and principal is not ANONYMOUS:
        return "key:" + principal.name
    return "addr:" + (cast(aioweb.Request, request).remote or "unknown")


def too_many(limit: Limit, decision: Decision) -> web.Response:
    what = {"ingest": "single-event posts", "batch": "batch posts", "query": "reads"}[limit]
    message = (
        f"rate limit: this client sent more {what} (or events) than its allowance of {decision.limit:g}/s; "
        f"retry after {decision.headers()['Retry-After']} s"
    )
    response = error_response(429, "rate_limited", message)
    response.headers.update(decision.headers())
    return response


async def limit_ingest(
    limiter: RateLimiter | None, request: web.Request, limit: Limit, events: int
) -> web.Response | None:
    """429 when an ingest request (carrying ``events``) is over its allowance, else ``None``."""
    if limiter is None:
        return None
    decision = await limiter.check(limit, identity_of(request), events)
    cast(aioweb.Request, request)[DECISION] = decision
    return None if decision.allowed else too_many(limit, decision)


def rate_limits(limiter: RateLimiter | None) -> Any:
    """The middleware: limits reads itself, and puts the headers of any decision on the answer."""

    @aioweb.middleware
    async def middleware(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
        if limiter is None:
            return await handler(request)
        if role_of(request) in ("query", "admin"):
            decision = await limiter.check("query", identity_of(cast(web.Request, request)))
            if not decision.allowed:
                return cast(aioweb.Response, too_many("query", decision))
            request[DECISION] = decision
        response = await handler(request)
        taken = request.get(DECISION)
        if isinstance(taken, Decision) and not response.prepared:
            response.headers.update(taken.headers())
        return response

    return middleware
