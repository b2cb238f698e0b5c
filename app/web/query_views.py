"""Reading logs over HTTP: query, full-text search, one event, its context, volume over time.

``GET /api/v1/logs`` (also ``POST`` there: ingest one event),
``GET /gateway/api/query/logs`` and ``GET /gateway/api/query/search`` (the
Java system's), ``GET /api/v1/logs/{id}``, ``GET /api/v1/logs/{id}/context``,
``GET /api/v1/logs/histogram``. Answers are cached in Redis for
``CACHE_QUERY_TTL`` seconds under a key derived from the normalised query
(an event: its id) and who may see it, and served stale while PostgreSQL is
away (:mod:`app.web.cached`).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any, Final, cast

import aiopg
import orjson
from faust import web

from app.domain.context import parse_context
from app.domain.histogram import histogram_body, histogram_sql, parse_histogram
from app.domain.query import LogQuery, Params, java_event, next_cursor, parse_query, row_to_event
from app.errors import QueryError, TenantMismatch
from app.services import Services
from app.storage import reads
from app.web.access import cache_scope, forbidden, scope_query, tenant_of
from app.web.base import ServiceView
from app.web.cached import read_through
from app.web.ingest_views import IngestOne
from app.web.problems import error_response

EVENT_ID: Final = "{event_id:[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}}"


def params_of(request: web.Request) -> Params:
    return cast(Params, request.query)  # aiohttp's MultiDictProxy: repeated parameters kept


def page_body(query: LogQuery, rows: list[Any], total: int | None) -> dict[str, Any]:
    """A page of events: ``content`` and Spring's page fields, plus our keyset cursor."""
    events = [java_event(row_to_event(r)) for r in rows[: query.limit]]
    cursor = next_cursor(query, rows)
    body: dict[str, Any] = {
        "content": events,
        "size": query.limit,
        "numberOfElements": len(events),
        "next_cursor": cursor,
        "nextCursor": cursor,
    }
    if query.page is not None and total is not None:
        pages = math.ceil(total / query.limit) if total else 0
        body |= {
            "number": query.page,
            "totalElements": total,
            "totalPages": pages,
            "first": query.page == 0,
            "last": query.page >= pages - 1,
            "empty": not events,
        }
    return body


async def answer_query(services: Services, request: web.Request, *, spring_paging: bool) -> web.Response:
    """Answer a query; ``spring_paging`` makes offset pages (``page`` 0, ``size`` 20) the default."""
    try:
        if spring_paging:
            query = parse_query(params_of(request), default_limit=20, default_page=0)
        else:
            query = parse_query(params_of(request))
    except QueryError as exc:
        return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
    tenant = tenant_of(request)
    try:
        query = scope_query(query, tenant)
    except TenantMismatch as exc:
        return forbidden(exc)
    key = query.cache_key(cache_scope(tenant))

    async def compute(pool: aiopg.Pool) -> bytes:
        rows = await reads.fetch_page(pool, query)
        total = await reads.count_matching(pool, query) if query.page is not None else None
        return orjson.dumps(page_body(query, rows, total))

    return await read_through(services, "query", key, services.settings.cache_query_ttl, compute)


class Logs(IngestOne):
    """GET: query; POST: ingest one event (the same path serves both, as the Java system's did)."""

    async def get(self, request: web.Request) -> web.Response:
        return await answer_query(self.services, request, spring_paging=False)


class JavaQuery(ServiceView):
    async def get(self, request: web.Request) -> web.Response:
        return await answer_query(self.services, request, spring_paging=True)


async def _visible_event(pool: aiopg.Pool, wanted: uuid.UUID, tenant: str | None) -> Any | None:
    """The stored row of ``wanted``, or ``None`` when absent or another tenant's (which is told as absent)."""
    row = await reads.get_event(pool, wanted)
    if row is None or (tenant is not None and row[5] != tenant):
        return None
    return row


def _not_found(event_id: str) -> web.Response:
    return error_response(404, "not_found", f"no event with id {event_id}")


class OneLog(ServiceView):
    async def get(self, request: web.Request, event_id: str) -> web.Response:
        tenant = tenant_of(request)
        wanted = uuid.UUID(event_id)

        async def compute(pool: aiopg.Pool) -> bytes | web.Response:
            row = await _visible_event(pool, wanted, tenant)
            if row is None:
                return _not_found(event_id)
            return orjson.dumps(java_event(row_to_event(row)))

        key = f"logpipe:event:{cache_scope(tenant)}:{wanted}"
        return await read_through(self.services, "event", key, self.settings.cache_query_ttl, compute)


class LogContext(ServiceView):
    """The events of the hit's source and organization just before and after it, in time order, hit marked."""

    async def get(self, request: web.Request, event_id: str) -> web.Response:
        try:
            window = parse_context(params_of(request))
        except QueryError as exc:
            return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
        tenant = tenant_of(request)
        wanted = uuid.UUID(event_id)

        async def compute(pool: aiopg.Pool) -> bytes | web.Response:
            hit = await _visible_event(pool, wanted, tenant)
            if hit is None:
                return _not_found(event_id)
            older, newer = await reads.fetch_context(pool, hit, window)
            events = [{**java_event(row_to_event(row)), "hit": row is hit} for row in (*older, hit, *newer)]
            return orjson.dumps({"id": str(wanted), "before": len(older), "after": len(newer), "content": events})

        key = f"logpipe:context:{cache_scope(tenant)}:{wanted}:{window.before}:{window.after}"
        return await read_through(self.services, "event", key, self.settings.cache_query_ttl, compute)


class LogHistogram(ServiceView):
    """Counts per time bucket and level of the events a query's filters match (its paging is ignored)."""

    async def get(self, request: web.Request) -> web.Response:
        try:
            query = parse_query(params_of(request))
            histogram = parse_histogram(params_of(request), query, datetime.now(UTC))
        except QueryError as exc:
            return error_response(400, "invalid_parameter", str(exc), errors=[exc.as_dict()])
        tenant = tenant_of(request)
        try:
            query = scope_query(query, tenant)
        except TenantMismatch as exc:
            return forbidden(exc)
        sql, args = histogram_sql(query, histogram)

        async def compute(pool: aiopg.Pool) -> bytes:
            return orjson.dumps(histogram_body(histogram, await reads.fetch_rows(pool, sql, args)))

        key = f"{query.cache_key(cache_scope(tenant))}:histogram:{histogram.start.isoformat()}:{histogram.seconds}"
        return await read_through(self.services, "query", key, self.settings.cache_query_ttl, compute)
