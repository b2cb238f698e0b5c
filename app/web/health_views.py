"""Liveness and readiness.

``/health`` says the process serves HTTP. ``/ready`` checks each dependency
with a short timeout and reports each one, so an operator sees *which* is
down; it answers 503 unless all are up, and so only when every route of
this worker can answer (``stats``: the count table's owner is known, else
``/api/v1/stats`` could not be routed). It also shows the pipeline's state
(broker reachable, lag, whether ingest is shedding load: that alone does not
make a worker unready), the state of the circuit breaker around PostgreSQL
reads (``circuits``; a failed PostgreSQL check here opens it), and lists the
partitions this worker owns, by topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from faust import web

from app.domain.topic_layout import RAW
from app.web.base import ServiceView
from app.web.stats_views import stats_route_known

if TYPE_CHECKING:
    from app.app import LogpipeApp

CHECK_TIMEOUT = 1.0
NOT_READY_RETRY_AFTER = 1


async def _check(probe: Callable[[], Awaitable[Any]]) -> dict[str, str]:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with its text
        return {"status": "down", "error": str(exc) or type(exc).__name__}
    return {"status": "up"}


class Health(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.json({"status": "UP"})


class ServiceHealth(web.View):
    """The Java system's per-service health routes answered ``{"status": "healthy"}``."""

    async def get(self, request: web.Request) -> web.Response:
        return self.json({"status": "healthy"})


class Ready(ServiceView):
    async def get(self, request: web.Request) -> web.Response:
        app = cast("LogpipeApp", self.app)
        broker, postgres, redis, stats = await asyncio.gather(
            _check(lambda: _broker(app)),
            _check(lambda: _database(app)),
            _check(self.services.cache.ping),
            _check(lambda: _stats_route(app)),
        )
        checks = {"broker": broker, "postgres": postgres, "redis": redis, "stats": stats}
        ready = all(c["status"] == "up" for c in checks.values())
        body: dict[str, Any] = {"status": "UP" if ready else "DOWN"}
        if not ready:
            down = ", ".join(name for name, check in checks.items() if check["status"] != "up")
            body |= {"code": "not_ready", "message": f"not ready: {down} down"}
        body |= {
            "checks": checks,
            # After the checks: a failed PostgreSQL probe has just opened the breaker.
            "circuits": {"postgres": self.services.database.breaker.state.value},
            "pipeline": self.services.watch.report(),
            "partitions": assigned_partitions(app),
        }
        if ready:
            return self.json(body)
        return self.json(body, status=503, headers={"Retry-After": str(NOT_READY_RETRY_AFTER)})


async def _broker(app: LogpipeApp) -> None:
    # The worker's own producer connection: if it can fetch metadata, the broker is there.
    producer = cast(Any, app.producer)._ensure_producer()
    await producer.client.fetch_all_metadata()


async def _stats_route(app: LogpipeApp) -> None:
    if not await stats_route_known(app):
        raise RuntimeError("no owner of the count table known yet (rebalancing): /api/v1/stats would answer 503")


async def _database(app: LogpipeApp) -> None:
    database = app.services.database
    if not database.is_ready:
        raise RuntimeError("schema not ready yet")
    await database.ping(within=CHECK_TIMEOUT * 0.9)  # its own timeout, inside ours: a silence opens the breaker


def assigned_partitions(app: LogpipeApp) -> dict[str, list[int]]:
    """Which partitions this worker owns now, by topic: where its share of the work is."""
    owned: dict[str, list[int]] = {}
    for tp in app.assignor.assigned_actives():
        owned.setdefault(tp.topic, []).append(tp.partition)
    if app.services.validator is not None:
        owned[RAW] = app.services.validator.assigned_partitions()
    return {topic: sorted(parts) for topic, parts in sorted(owned.items())}
