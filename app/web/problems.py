"""JSON errors for every 4xx/5xx, made only here.

Every error body has the same shape, ``{"code": ..., "message": ...}``,
plus ``errors`` (field, rule, message; and ``index`` for batch items) where
a body broke event rules. Status codes: 400 a body that is not what the
route takes (not JSON, wrong shape), 422 well-formed JSON that breaks an
event rule, 413 too large, 404 unknown route or id, 503 + ``Retry-After``
a dependency unavailable. A view that needs PostgreSQL lets
:class:`~app.errors.StorageUnavailable` rise: :func:`json_errors` answers it,
here and only here, with 503 ``database_unavailable``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
from aiohttp import web as aioweb
from faust import web

from app.errors import Backpressure, CircuitOpen, RateLimited, StorageUnavailable, TryLater

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, *, errors: list[dict[str, Any]] | None = None, retry_after: int | None = None
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    response = aioweb.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)
    return cast(web.Response, response)


Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]


@aioweb.middleware
async def json_errors(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
    """Turn aiohttp's own HTML/text errors (unknown route, wrong method, crash) into JSON."""
    try:
        return await handler(request)
    except StorageUnavailable as exc:
        retry = math.ceil(exc.retry_after) if isinstance(exc, CircuitOpen) else None
        return cast(aioweb.Response, database_unavailable(str(exc), retry_after=retry))
    except TryLater as exc:
        return cast(aioweb.Response, try_later(exc))
    except aioweb.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status, "http_error")
        message = f"no route {request.method} {request.path}" if exc.status in (404, 405) else exc.reason
        return cast(aioweb.Response, error_response(exc.status, code, message))
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return cast(
            aioweb.Response, error_response(500, "internal_error", "the server failed to answer; the error is logged")
        )


def database_unavailable(
    reason: str = "PostgreSQL is not reachable yet", retry_after: int | None = None
) -> web.Response:
    """503 for a read that needs PostgreSQL while it is away (ingest does not: it goes to Kafka).

    ``retry_after``: when the circuit breaker lets a probe through; 2 s when nobody knows.
    """
    return error_response(503, "database_unavailable", reason, retry_after=max(1, retry_after or 2))


def try_later(exc: TryLater) -> web.Response:
    """A "not now" in logpipe's shape: 429 for the client's own pace (backpressure, rate limits), 503 when the
    broker cannot take events; always with ``Retry-After``."""
    status = 429 if isinstance(exc, Backpressure | RateLimited) else 503
    response = error_response(status, exc.code, exc.message, retry_after=exc.retry_after)
    response.headers.update(exc.headers)
    return response
