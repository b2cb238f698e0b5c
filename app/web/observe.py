"""HTTP request metrics: count and latency by route template, method and status."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web as aioweb

from app.ops.metrics import HTTP_REQUESTS, HTTP_SECONDS

Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]


def route_template(request: aioweb.Request) -> str:
    """The route's template (``/api/v1/logs/{event_id}``), never the raw path: bounded cardinality."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@aioweb.middleware
async def http_metrics(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except aioweb.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_template(request)
        HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
        HTTP_SECONDS.labels(route, request.method).observe(time.perf_counter() - started)
