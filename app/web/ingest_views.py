"""Ingest over HTTP in logpipe's own JSON: one event or a batch → ``logs.events``, 202 once the broker has them.

``POST /api/v1/logs``, ``POST /api/logs``, ``POST /producer/api/logs/ingest``
take one event; ``POST /api/v1/logs/batch``, ``POST /producer/api/logs/batch``
take a JSON array, or NDJSON with ``Content-Type: application/x-ndjson``.
Admission, rate limits and publishing are the intake's
(:mod:`app.kafka.intake`); its refusals rise to :mod:`app.web.problems`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from faust import web

from app.domain.admission import Admitted, EventRules, admit, admit_items
from app.domain.bodies import parse_batch, parse_single
from app.domain.protocols import Item, Refused
from app.domain.protocols.compression import inflate
from app.domain.protocols.httphandler import decode_form_record, is_form_record
from app.errors import BadBody, FieldError, InvalidEvent
from app.models import LogEvent
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

    async def publish(self, request: web.Request, wire: list[dict[str, Any]], protocol: str = "native") -> None:
        with tracing.ingest_span(f"POST {request.url.path}", request.headers) as (trace_id, traceparent):
            trace_id = trace_id or tracing.trace_id_of(request.headers.get("traceparent"))
            await self.services.intake.publish(wire, protocol=protocol, trace_id=trace_id, traceparent=traceparent)


AIOHTTP_INFLATES: Final = frozenset({"gzip", "deflate", "br", "zstd"})


class ShipperView(IngestView):
    """An ingest route of a shipper's protocol: its decoder's items go the same way as logpipe's own events.

    A subclass decodes the (inflated) body into items and maps the
    :class:`~app.domain.admission.Admitted` outcome, or a
    :class:`~app.errors.TryLater`, to its protocol's own answers.
    """

    protocol: ClassVar[str]

    async def inflated(self, request: web.Request) -> bytes:
        """The body, inflated when its ``Content-Encoding`` says so, within ``INGEST_MAX_BODY_BYTES``.

        aiohttp inflates gzip, deflate, br and zstd itself while it reads
        (within the same limit); what is left to inflate is another spelling
        (``x-gzip``), and an unknown encoding is refused.
        """
        body = await self.body(request)
        encoding = request.headers.get("Content-Encoding")
        if encoding is not None and encoding.strip().lower() in AIOHTTP_INFLATES:
            encoding = None
        return inflate(body, encoding, max_bytes=self.settings.ingest_max_body_bytes)

    async def take(self, request: web.Request, items: Sequence[Item], tenant: str | None) -> Admitted:
        """Admit the decoded items, charge the client for them and publish the events; returns what became of
        each item (a refused one is named with its field and rule)."""
        admitted = admit_items(items, self.rules, received_at=datetime.now(UTC), tenant=tenant)
        for errors in admitted.refused.values():
            for error in errors:
                EVENTS_REJECTED.labels(self.protocol, error.rule).inc()
        await self.charge(request, "batch", len(admitted.events))
        if admitted.events:
            await self.publish(request, admitted.wire(), self.protocol)
        return admitted


def bad_body(exc: BadBody) -> web.Response:
    status = 413 if exc.code in ("too_many_items", "payload_too_large", "too_large") else 400
    return error_response(status, exc.code, exc.message)


class IngestOne(IngestView):
    """One event: logpipe's JSON, or the form-encoded record Python's ``logging.handlers.HTTPHandler`` posts."""

    async def post(self, request: web.Request) -> web.Response:
        protocol = "native"
        try:
            body = await self.body(request)
            self.services.intake.admit()
            await self.charge(request, "ingest", 1)
            if is_form_record(request.headers.get("Content-Type", ""), body):
                protocol = "logging"
                event = self.logging_record(body, tenant_of(request))
            else:
                event = parse_single(body, self.rules, received_at=datetime.now(UTC), tenant=tenant_of(request))
        except BadBody as exc:
            return bad_body(exc)
        except InvalidEvent as exc:
            for error in exc.errors:
                EVENTS_REJECTED.labels(protocol, error.rule).inc()
            return error_response(422, "invalid_event", str(exc), errors=[e.as_dict() for e in exc.errors])
        await self.publish(request, [event.to_wire()], protocol)
        event_id = str(event.id)
        return self.json(
            {"status": "accepted", "id": event_id, "logId": event_id, "message": "Log event successfully ingested"},
            status=202,
        )

    def logging_record(self, body: bytes, tenant: str | None) -> LogEvent:
        received_at = datetime.now(UTC)
        item = decode_form_record(body, received_at=received_at)
        if isinstance(item, Refused):
            raise InvalidEvent([FieldError(item.field, item.rule, item.message)])
        return admit(item, self.rules, received_at=received_at, tenant=tenant, shipper_shapes=False)


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
            EVENTS_REJECTED.labels("native", error["rule"]).inc()
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
