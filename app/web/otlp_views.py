"""OTLP/HTTP logs: ``POST /v1/logs`` (and ``/otlp/v1/logs``), what every OpenTelemetry SDK and Collector sends.

Protobuf or JSON, gzip or not (:mod:`app.domain.protocols.otlp`). Answers
as the OTLP spec says (:mod:`app.domain.protocols.otlp_answers`): 200 with
an empty response, or ``partial_success`` naming the records refused and
why; a ``google.rpc.Status`` with 400 for a body that cannot be read, 413
over the size limit, 429 or 503 with ``Retry-After`` when ingest says not
now (the exporter retries those, as the spec tells it to).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from aiohttp import web as aioweb
from faust import web

from app.domain.admission import Admitted
from app.domain.protocols import otlp_answers as answers
from app.domain.protocols.otlp import decode_logs
from app.errors import Backpressure, BadBody, RateLimited, TryLater
from app.web.access import tenant_of
from app.web.ingest_views import ShipperView

SHOWN_ERRORS: Final = 5


class OtlpLogs(ShipperView):
    protocol = "otlp"

    async def post(self, request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type", "")
        kind = answers.answer_type(content_type)
        try:
            self.services.intake.admit(self.protocol)
            body = await self.inflated(request)
            items = decode_logs(body, content_type, received_at=datetime.now(UTC))
            admitted = await self.take(request, items, tenant_of(request))
        except BadBody as exc:
            status = {"too_large": 413, "payload_too_large": 413, "unsupported_media_type": 415}.get(exc.code, 400)
            return _answer(kind, status, answers.status(kind, answers.INVALID_ARGUMENT, exc.message))
        except TryLater as exc:
            throttled = isinstance(exc, Backpressure | RateLimited)
            code = answers.RESOURCE_EXHAUSTED if throttled else answers.UNAVAILABLE
            response = _answer(kind, 429 if throttled else 503, answers.status(kind, code, exc.message))
            response.headers.update({**exc.headers, "Retry-After": str(exc.retry_after)})
            return response
        return _answer(kind, 200, answers.export_response(kind, len(admitted.refused), refusals(admitted)))


def refusals(admitted: Admitted, noun: str = "record") -> str:
    """The first few refused records, by their place in the request, with field and rule."""
    shown = [
        f"{noun} {index}: " + "; ".join(f"{e.field}: {e.message} ({e.rule})" for e in errors)
        for index, errors in sorted(admitted.refused.items())[:SHOWN_ERRORS]
    ]
    more = len(admitted.refused) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _answer(content_type: str, status: int, body: bytes) -> web.Response:
    return aioweb.Response(body=body, status=status, content_type=content_type)  # type: ignore[return-value]
