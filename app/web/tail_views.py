"""``GET /api/v1/logs/tail``: new events as Server-Sent Events, with the query API's filters.

Each event is one SSE message (``id:`` the event id, ``data:`` the event as
JSON); a comment line every 15 s keeps proxies from closing a quiet
stream. A client that falls ``TAIL_QUEUE_SIZE`` events behind gets a final
``event: dropped`` message and the stream ends: reconnect to go on.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

import orjson
from aiohttp import web as aioweb
from faust import web

from app.domain.query import java_event, parse_query
from app.errors import QueryError, TenantMismatch
from app.kafka.tail_hub import matcher
from app.web.access import forbidden, scope_query, tenant_of
from app.web.base import ServiceView
from app.web.problems import error_response
from app.web.query_views import params_of

KEEPALIVE_SECONDS = 15.0
WRITE_TIMEOUT_SECONDS = 30.0
DROPPED = b'{"reason": "client too slow: it fell too far behind and was dropped; reconnect to go on"}'


async def _send(response: aioweb.StreamResponse, chunk: bytes) -> None:
    """Write, but give up on a client that stopped reading (its socket buffer stays full)."""
    await asyncio.wait_for(response.write(chunk), WRITE_TIMEOUT_SECONDS)


class Tail(ServiceView):
    async def get(self, request: web.Request) -> web.Response:
        try:
            query = scope_query(parse_query(params_of(request)), tenant_of(request))
        except QueryError as exc:
            return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
        except TenantMismatch as exc:
            return forbidden(exc)
        raw = cast(aioweb.Request, request)
        response = aioweb.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(raw)
        matches = matcher(query.levels, query.source, query.organization_id, query.text, query.fields)
        async with self.services.tail_hub.subscribe(matches) as subscriber:
            with contextlib.suppress(ConnectionResetError, TimeoutError):
                await _send(response, b": listening\n\n")
                while not subscriber.dropped:
                    try:
                        event = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        await _send(response, b": keepalive\n\n")
                        continue
                    if event is None:
                        break
                    data = orjson.dumps(java_event(event))
                    await _send(response, b"id: " + str(event.get("id")).encode() + b"\ndata: " + data + b"\n\n")
                if subscriber.dropped:
                    await _send(response, b"event: dropped\ndata: " + DROPPED + b"\n\n")
        return cast(web.Response, response)
