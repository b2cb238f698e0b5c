"""Ingest over HTTP: one event or a batch → ``logs.events``, 202 once the broker has them.

Routes (the Java system's stay as aliases with its answer fields):
``POST /api/v1/logs``, ``POST /api/logs``, ``POST /producer/api/logs/ingest``
take one event; ``POST /api/v1/logs/batch``, ``POST /producer/api/logs/batch``
take a JSON array, or NDJSON with ``Content-Type: application/x-ndjson``.
"""

from __future__ import annotations

from typing import Any, cast

from aiohttp import web as aioweb
from faust import web

from app import tracing
from app.app import app, publisher, rate_limiter, settings, watch
from app.ingest import BadBody, parse_batch, parse_single
from app.metrics import EVENTS_ACCEPTED, EVENTS_REJECTED, INGEST_SHED
from app.models import InvalidEvent
from app.publisher import BrokerUnavailable, Overloaded
from app.web.auth import tenant_of
from app.web.errors import error_response
from app.web.ratelimit import limit_ingest

RETRY_AFTER_SECONDS = 2  # a broker that went away takes seconds to come back or be found again
OVERLOADED_RETRY_AFTER_SECONDS = 1  # the requests waiting on the broker drain in well under a second


async def _read(request: web.Request) -> bytes | web.Response:
    length = cast(aioweb.Request, request).content_length
    if length is not None and length > settings.ingest_max_body_bytes:
        return error_response(
            413, "payload_too_large", f"body is {length} bytes; the limit is {settings.ingest_max_body_bytes}"
        )
    body: bytes = await request.read()
    return body


def stamp_trace_id(events: list[dict[str, Any]], trace_id: str | None) -> list[dict[str, Any]]:
    """Events without a ``trace_id`` get the request's (DESIGN.md: set from the trace context when absent)."""
    if trace_id is not None:
        for event in events:
            if event["trace_id"] is None:
                event["trace_id"] = trace_id
    return events


async def _publish(wire: list[dict[str, Any]], traceparent: str | None) -> web.Response | None:
    """Hand the events to the broker; the 503 to answer when it cannot take them, else None."""
    try:
        await publisher.publish(wire, traceparent=traceparent)
    except BrokerUnavailable as exc:
        INGEST_SHED.labels("broker_unavailable").inc()
        return error_response(503, "broker_unavailable", str(exc), retry_after=RETRY_AFTER_SECONDS)
    except Overloaded as exc:
        INGEST_SHED.labels("overloaded").inc()
        return error_response(
            503, "overloaded", f"this worker is overloaded: {exc}", retry_after=OVERLOADED_RETRY_AFTER_SECONDS
        )
    return None


def _shed() -> web.Response | None:
    """429 while the persist stage lags past the high-water mark (see :mod:`app.backpressure`)."""
    gate = watch.gate
    if not gate.closed:
        return None
    INGEST_SHED.labels("backpressure").inc()
    retry_after = gate.retry_after()
    message = (
        f"the pipeline is {gate.lag:,} records behind (limit {gate.high:,}); "
        f"ingest resumes under {gate.low:,}: retry after {retry_after} s"
    )
    return error_response(429, "backpressure", message, retry_after=retry_after)


class IngestOne(web.View):
    async def post(self, request: web.Request) -> web.Response:
        body = await _read(request)
        if not isinstance(body, bytes):
            return body
        if (refused := _shed() or await limit_ingest(rate_limiter, request, "ingest", 1)) is not None:
            return refused
        try:
            event = parse_single(body, tenant=tenant_of(request))
        except BadBody as exc:
            return error_response(400, exc.code, str(exc))
        except InvalidEvent as exc:
            for error in exc.errors:
                EVENTS_REJECTED.labels(error.rule).inc()
            return error_response(422, "invalid_event", str(exc), errors=[e.as_dict() for e in exc.errors])
        with tracing.ingest_span(f"POST {request.url.path}", request.headers) as (trace_id, traceparent):
            wire = stamp_trace_id(
                [event.to_wire()], trace_id or tracing.trace_id_of(request.headers.get("traceparent"))
            )
            if (refused := await _publish(wire, traceparent)) is not None:
                return refused
        EVENTS_ACCEPTED.inc()
        event_id = str(event.id)
        return self.json(
            {"status": "accepted", "id": event_id, "logId": event_id, "message": "Log event successfully ingested"},
            status=202,
        )


class IngestBatch(web.View):
    async def post(self, request: web.Request) -> web.Response:
        body = await _read(request)
        if not isinstance(body, bytes):
            return body
        if (refused := _shed()) is not None:
            return refused
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        ndjson = content_type in ("application/x-ndjson", "application/ndjson", "application/jsonlines")
        try:
            outcome = parse_batch(
                body, ndjson=ndjson, max_items=settings.ingest_batch_max_items, tenant=tenant_of(request)
            )
        except BadBody as exc:
            if (refused := await limit_ingest(rate_limiter, request, "batch", 0)) is not None:
                return refused
            status = 413 if exc.code == "too_many_items" else 400
            return error_response(status, exc.code, str(exc))
        if (refused := await limit_ingest(rate_limiter, request, "batch", len(outcome.events))) is not None:
            return refused
        for error in outcome.errors:
            EVENTS_REJECTED.labels(error["rule"]).inc()
        if not outcome.events:
            if not outcome.errors:
                return error_response(400, "empty_batch", "the batch holds no events")
            return error_response(422, "invalid_events", "no event in the batch is valid", errors=outcome.errors)
        with tracing.ingest_span(f"POST {request.url.path}", request.headers) as (trace_id, traceparent):
            trace_id = trace_id or tracing.trace_id_of(request.headers.get("traceparent"))
            wire = stamp_trace_id([e.to_wire() for e in outcome.events], trace_id)
            if (refused := await _publish(wire, traceparent)) is not None:
                return refused
        EVENTS_ACCEPTED.inc(len(outcome.events))
        ids = [str(e.id) for e in outcome.events]
        rejected = len({e["index"] for e in outcome.errors})
        return self.json(
            {
                "status": "accepted",
                "accepted": len(ids),
                "rejected": rejected,
                "ids": ids,
                "errors": outcome.errors,
                "processedCount": len(ids),
                "message": f"{len(ids)} log events accepted, {rejected} rejected",
            },
            status=202,
        )


for path in ("/api/v1/logs/batch", "/producer/api/logs/batch"):
    app.page(path)(IngestBatch)
for path in ("/api/logs", "/producer/api/logs/ingest"):
    app.page(path)(IngestOne)
