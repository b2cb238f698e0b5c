"""Stats: live counts from the count table, answered locally by any worker.

``GET /api/v1/stats``, and the Java system's ``GET /api/v1/logs/stats`` and
``GET /gateway/api/query/stats``. Every worker answers: the request is
served by (or forwarded to) the worker owning the count table (see
:mod:`app.tables.counts`). ``hoursBack=N`` adds the per-level counts of
events whose timestamp falls in the last N hours, from PostgreSQL (cached,
and served stale while PostgreSQL is away: :mod:`app.web.cached`).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import aiohttp
import aiopg
import orjson
from faust import web
from faust.web.exceptions import WebError

from app.storage import reads
from app.tables.counts import ROUTING_KEY, owns_count_table
from app.web.access import cache_scope, tenant_of
from app.web.base import ServiceView
from app.web.cached import read_through
from app.web.problems import error_response

if TYPE_CHECKING:
    from app.app import LogpipeApp

MAX_HOURS_BACK = 24 * 365
# How long the count table's owner may take to answer a forwarded request: stats take milliseconds,
# and an owner that is stopped or behind a silent network answers nothing, never an error.
FORWARD_TIMEOUT = 5.0


async def _learn_changelog_partitions(app: LogpipeApp) -> bool:
    """Faust's router hashes the key with its *producer's* metadata, which covers only
    topics this worker wrote to; a worker that never wrote the count table could
    not route to its owner until it fetched the changelog's metadata.

    Asking the broker for one unknown topic by name lets a broker that creates
    topics on demand (Kafka's default, and tansu) create it with its default
    partition count, before the count table declares its changelog with one
    partition; the table then refuses every write. So an unknown changelog is
    looked up among all topics, which creates none, and learned once it exists.
    Whether it is known (a broker that came back empty holds none until the
    worker creates it again).
    """
    producer = cast(Any, app.producer)._ensure_producer()
    topic = app.services.counts.table.changelog_topic.get_topic_name()
    if producer.client.cluster.partitions_for_topic(topic) is None:
        everything = await producer.client.fetch_all_metadata()
        if topic not in everything.topics():
            return False
    await producer.partitions_for(topic)
    return True


async def stats_route_known(app: LogpipeApp) -> bool:
    """Whether this worker knows which worker answers stats (the count table's owner): then it can answer."""
    if not await _learn_changelog_partitions(app):
        return False
    try:
        app.router.key_store(app.services.counts.table.name, ROUTING_KEY)
    except KeyError:
        return False
    return True


class Stats(ServiceView):
    """Served on the count table's owner; :meth:`bind` routes every other worker's requests there."""

    @classmethod
    def bind(cls, app: LogpipeApp) -> type[Stats]:
        """This view for ``app``, its answer routed to the worker that owns the count table."""
        table = app.services.counts.table

        class RoutedStats(cls):  # type: ignore[valid-type, misc]  # cls is a Stats
            @app.table_route(table=table, exact_key=ROUTING_KEY)  # type: ignore[arg-type]  # typed for View
            async def routed_get(self, request: web.Request) -> web.Response:
                return cast(web.Response, await self.answer(request))

        return RoutedStats

    async def get(self, request: web.Request) -> web.Response:
        if not await _learn_changelog_partitions(cast("LogpipeApp", self.app)):
            message = "the live counts' changelog topic is not on the broker (yet); try again shortly"
            return error_response(503, "stats_unavailable", message, retry_after=1)
        try:
            async with asyncio.timeout(self._forward_timeout(request)):
                return await self.routed_get(request)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Forwarded to an owner that died: until the broker evicts it, the table has not moved yet.
            message = (
                f"the worker holding the live counts does not answer ({type(exc).__name__}); they move to another"
                " worker once the broker evicts it: try again shortly"
            )
            return error_response(503, "stats_unavailable", message, retry_after=1)

    def _forward_timeout(self, request: web.Request) -> float | None:
        """How long the count table's owner may take to answer: no bound on the owner itself (its reads have
        their own), :data:`FORWARD_TIMEOUT` elsewhere, and the owner's PostgreSQL read bound on top for
        ``hoursBack``."""
        if owns_count_table(cast("LogpipeApp", self.app)):
            return None
        hours_back = "hoursBack" in request.query or "hours_back" in request.query
        return FORWARD_TIMEOUT + (self.settings.pg_read_timeout if hours_back else 0.0)

    async def routed_get(self, request: web.Request) -> web.Response:
        return await self.answer(request)

    async def on_request_error(self, request: web.Request, exc: WebError) -> web.Response:
        """Faust's own errors (no owner of the count table known yet, mid-rebalance) in logpipe's shape."""
        if exc.code == 503:
            message = "the live counts have no owner yet (workers are rebalancing); try again shortly"
            return error_response(503, "stats_unavailable", message, retry_after=1)
        return error_response(exc.code, "http_error", str(exc.detail))

    async def answer(self, request: web.Request) -> web.Response:
        tenant = tenant_of(request)
        counts = self.services.counts
        raw = request.query.get("hoursBack") or request.query.get("hours_back")
        if raw is None:
            return self.json(counts.current_stats(tenant=tenant))
        try:
            hours = int(raw)
            if not 1 <= hours <= MAX_HOURS_BACK:
                raise ValueError
        except ValueError:
            message = f"hoursBack: must be an integer between 1 and {MAX_HOURS_BACK}"
            error = {"field": "hoursBack", "rule": "range", "message": message}
            return error_response(400, "invalid_parameter", message, errors=[error])
        key = f"logpipe:stats:{cache_scope(tenant)}:{hours}"

        async def compute(pool: aiopg.Pool) -> bytes:
            since = datetime.now(UTC) - timedelta(hours=hours)
            levels = await reads.level_counts_since(pool, since, tenant)
            window = {"hoursBack": hours, "since": since.isoformat(), "total": sum(levels.values()), "levels": levels}
            return orjson.dumps({**counts.current_stats(tenant=tenant), "window": window})

        return await read_through(self.services, "stats", key, self.settings.cache_stats_ttl, compute)
