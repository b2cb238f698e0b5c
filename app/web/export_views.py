"""``GET /api/v1/logs/export``: every event the query's filters match, newest first, streamed as NDJSON or CSV.

Pages of :data:`app.domain.export.PAGE_ROWS` rows are read one at a time
through the database's circuit breaker (:meth:`Database.read`), each with
its own pooled connection given back before the page is written, and
written as they come: memory stays one page whatever the export's length,
and a slow client holds no connection. The first page is read before the
answer starts, so a PostgreSQL that is away is a 503 like any read's. Once
the answer has started a status can no longer change: a failure then
closes the connection before the end of the chunked body, so the client
sees an incomplete export rather than a short one. A client that goes
away (or stops reading for :data:`WRITE_TIMEOUT_SECONDS`) ends the export;
nothing stays behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final, cast

from aiohttp import web as aioweb
from faust import web

from app.domain.buckets import Decision
from app.domain.export import FORMATS, csv_header, export_query, file_name, next_page, page_bytes, parse_format
from app.domain.query import LogQuery, parse_query
from app.errors import QueryError, StorageUnavailable, TenantMismatch
from app.storage import reads
from app.web.access import forbidden, scope_query, tenant_of
from app.web.base import ServiceView, raw
from app.web.problems import error_response
from app.web.query_views import params_of
from app.web.rate_limits import DECISION

log = logging.getLogger(__name__)
WRITE_TIMEOUT_SECONDS: Final = 30.0
ReadPage = Callable[[LogQuery], Awaitable[list[Any]]]


async def _send(response: aioweb.StreamResponse, chunk: bytes) -> None:
    """Write, but give up on a client that stopped reading (its socket buffer stays full)."""
    await asyncio.wait_for(response.write(chunk), WRITE_TIMEOUT_SECONDS)


async def stream_pages(
    response: aioweb.StreamResponse, query: LogQuery, rows: list[Any], fmt: str, read: ReadPage
) -> int:
    """Write ``rows`` (the first page of ``query``) and every page after it; the number of events written."""
    written = 0
    if fmt == "csv":
        await _send(response, csv_header())
    while True:
        page = rows[: query.limit]
        if page:
            await _send(response, page_bytes(page, fmt))
            written += len(page)
        following = next_page(query, rows)
        if following is None:
            return written
        query, rows = following, await read(following)


class LogExport(ServiceView):
    async def get(self, request: web.Request) -> web.Response:
        try:
            params = params_of(request)
            query, fmt = export_query(parse_query(params)), parse_format(params)
        except QueryError as exc:
            return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
        try:
            query = scope_query(query, tenant_of(request))
        except TenantMismatch as exc:
            return forbidden(exc)
        database = self.services.database

        async def read(page: LogQuery) -> list[Any]:
            return await database.read(lambda pool: reads.fetch_page(pool, page))

        rows = await read(query)  # before the answer starts: StorageUnavailable is still a 503
        response = aioweb.StreamResponse(headers=_headers(request, fmt))
        await response.prepare(raw(request))
        written = 0
        try:
            written = await stream_pages(response, query, rows, fmt, read)
        except (ConnectionResetError, TimeoutError):
            log.info("export ended after %d events: the client went away or stopped reading", written)
            _abort(request)
            return cast(web.Response, response)
        except StorageUnavailable as exc:
            log.warning("export cut off after %d events: %s", written, exc)
            _abort(request)
            return cast(web.Response, response)
        await response.write_eof()
        return cast(web.Response, response)


def _headers(request: web.Request, fmt: str) -> dict[str, str]:
    name = file_name(fmt, datetime.now(UTC))
    headers = {
        "Content-Type": FORMATS[fmt],
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
        "X-Accel-Buffering": "no",
    }
    decision: Any = raw(request).get(DECISION)
    if isinstance(decision, Decision):  # the middleware cannot add them once the answer has started
        headers |= decision.headers()
    return headers


def _abort(request: web.Request) -> None:
    """Close the connection without the chunked body's end, so the client cannot take a cut export for whole."""
    transport = raw(request).transport
    if transport is not None:
        transport.close()
