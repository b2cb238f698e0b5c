"""Liveness and readiness.

``/health`` says the process serves HTTP. ``/ready`` checks each dependency
with a short timeout and reports each one, so an operator sees *which* is
down; it answers 503 unless all are up. It also shows the pipeline's state
(broker reachable, lag, whether ingest is shedding load: that alone does not
make a worker unready) and lists the partitions this worker owns, by topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, cast

from faust import web

from app.agents.validate import RawValidator
from app.app import app, cache, database, watch
from app.topics import RAW

CHECK_TIMEOUT = 1.0


async def _check(probe: Callable[[], Awaitable[Any]]) -> dict[str, str]:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with its text
        return {"status": "down", "error": str(exc) or type(exc).__name__}
    return {"status": "up"}


async def _broker() -> None:
    # The worker's own producer connection: if it can fetch metadata, the broker is there.
    producer = cast(Any, app.producer)._ensure_producer()
    await producer.client.fetch_all_metadata()


async def _database() -> None:
    if not database.is_ready:
        raise RuntimeError("schema not ready yet")
    await database.ping()


@app.page("/health")
class Health(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.json({"status": "UP"})


app.page("/actuator/health")(Health)


class ServiceHealth(web.View):
    """The Java system's per-service health routes answered ``{"status": "healthy"}``."""

    async def get(self, request: web.Request) -> web.Response:
        return self.json({"status": "healthy"})


for path in ("/producer/api/logs/health", "/gateway/api/query/health"):
    app.page(path)(ServiceHealth)


@app.page("/ready")
class Ready(web.View):
    async def get(self, request: web.Request) -> web.Response:
        broker, postgres, redis = await asyncio.gather(_check(_broker), _check(_database), _check(cache.ping))
        checks = {"broker": broker, "postgres": postgres, "redis": redis}
        ready = all(c["status"] == "up" for c in checks.values())
        body = {
            "status": "UP" if ready else "DOWN",
            "checks": checks,
            "pipeline": watch.report(),
            "partitions": assigned_partitions(),
        }
        return self.json(body, status=200 if ready else 503)


def assigned_partitions() -> dict[str, list[int]]:
    """Which partitions this worker owns now, by topic: where its share of the work is."""
    owned: dict[str, list[int]] = {}
    for tp in app.assignor.assigned_actives():
        owned.setdefault(tp.topic, []).append(tp.partition)
    if RawValidator.current is not None:
        owned[RAW] = RawValidator.current.assigned_partitions()
    return {topic: sorted(parts) for topic, parts in sorted(owned.items())}
