"""Ingest over HTTP in logpipe's own JSON: one event or a batch → ``logs.events``, 202 once the broker has them.

``POST /api/v1/logs``, ``POST /api/logs``, ``POST /producer/api/logs/ingest``
take one event; ``POST /api/v1/logs/batch``, ``POST /producer/api/logs/batch``
take a JSON array, or NDJSON with ``Content-Type: application/x-ndjson``.
Admission, rate limits and publishing are the intake's
(:mod:`app.kafka.intake`); its refusals rise to :mod:`app.web.problems`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faust import web

from app.domain.admission import EventRules
from app.domain.bodies import parse_batch, parse_single
from app.errors import BadBody, InvalidEvent
from app.ops import tracing
from app.ops.metrics import EVENTS_REJECTED
from app.storage.limiter import Limit
from app.web.access import tenant_of
from app.web.base import ServiceView, raw
from app.web.problems import error_response
from app.web.rate_limits import DECISION, identity_of


class IngestView(ServiceView):
    """What the ingest routes share: the size check, admission, rate limits and publishing."""

    @property
    def rules(self) -> EventRules:
        return self.services.event_rules

    async def body(self, request: web.Request) -> bytes:
        length = raw(request).content_length
        limit = self.settings.ingest_max_body_bytes
        if length is not None and length > limit:
            raise BadBody("payload_too_large", f"body is {length} bytes; the limit is {limit}")
        body: bytes = await request.read()
        return body

    async def charge(self, request: web.Request, limit: Limit, events: int) -> None:
        decision = await self.services.intake.charge(identity_of(request), limit, events)
        if decision is not None:
            raw(request)[DECISION] = decision

    async def publish(self, request: web.Request, wire: list[dict[str, Any]]) -> None:
        with tracing.ingest_span(f"POST {request.url.path}", request.headers) as (trace_id, traceparent):
            trace_id = trace_id or tracing.trace_id_of(request.headers.get("traceparent"))
            await self.services.intake.publish(wire, trace_id=trace_id, traceparent=traceparent)


def bad_body(exc: BadBody) -> web.Response:
    status = 413 if exc.code in ("too_many_items", "payload_too_large", "too_large") else 400
    return error_response(status, exc.code, exc.message)


class IngestOne(IngestView):
    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await self.body(request)
            self.services.intake.admit()
            await self.charge(request, "ingest", 1)
            event = parse_single(body, self.rules, received_at=datetime.now(UTC), tenant=tenant_of(request))
        except BadBody as exc:
            return bad_body(exc)
        except InvalidEvent as exc:
            for error in exc.errors:
                EVENTS_REJECTED.labels(error.rule).inc()
            return error_response(422, "invalid_event", str(exc), errors=[e.as_dict() for e in exc.errors])
        await self.publish(request, [event.to_wire()])
        event_id = str(event.id)
        return self.json(
            {"status": "accepted", "id": event_id, "logId": event_id, "message": "Log event successfully ingested"},
            status=202,
        )


class IngestBatch(IngestView):
    async def post(self, request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        ndjson = content_type in ("application/x-ndjson", "application/ndjson", "application/jsonlines")
        try:
            body = await self.body(request)
            self.services.intake.admit()
            max_items = self.settings.ingest_batch_max_items
            outcome = parse_batch(
                body,
                self.rules,
                ndjson=ndjson,
                max_items=max_items,
                received_at=datetime.now(UTC),
                tenant=tenant_of(request),
            )
        except BadBody as exc:
            await self.charge(request, "batch", 0)
            return bad_body(exc)
        await self.charge(request, "batch", len(outcome.events))
        for error in outcome.errors:
            EVENTS_REJECTED.labels(error["rule"]).inc()
        if not outcome.events:
            if not outcome.errors:
                return error_response(400, "empty_batch", "the batch holds no events")
            return error_response(422, "invalid_events", "no event in the batch is valid", errors=outcome.errors)
        await self.publish(request, [e.to_wire() for e in outcome.events])
        return self.json(batch_answer([str(e.id) for e in outcome.events], outcome.errors), status=202)


def batch_answer(ids: list[str], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The 202 of a batch: accepted ids and per-item errors, with the Java system's fields beside ours."""
    rejected = len({e["index"] for e in errors})
    return {
        "status": "accepted",
        "accepted": len(ids),
        "rejected": rejected,
        "ids": ids,
        "errors": errors,
        "processedCount": len(ids),
        "message": f"{len(ids)} log events accepted, {rejected} rejected",
    }
