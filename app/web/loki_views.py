"""Loki push: ``POST /loki/api/v1/push``, what Promtail, Grafana Alloy, Fluent Bit's and Vector's loki outputs send.

JSON (gzip allowed) or snappy-compressed protobuf
(:mod:`app.domain.protocols.loki`). Answers as Loki does: 204 when every
entry was taken; 400 with a plain-text body naming the refused entries
(the others are stored: Loki's clients do not resend a 4xx); 429 or 503
with ``Retry-After`` when ingest says not now (they resend those).
``X-Scope-OrgID`` names the organization where the key allows it: a key
of one organization writes only its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web as aioweb
from faust import web

from app.domain.protocols.loki import decode_push
from app.errors import Backpressure, BadBody, RateLimited, TenantMismatch, TryLater
from app.web.access import principal_of
from app.web.ingest_views import ShipperView
from app.web.otlp_views import refusals


def loki_tenant(request: web.Request) -> str | None:
    """The organization a push writes to: the key's, or (a key of every organization) ``X-Scope-OrgID``."""
    own = principal_of(request).tenant
    asked = (request.headers.get("X-Scope-OrgID") or "").strip() or None
    if own is not None and asked not in (None, own):
        raise TenantMismatch(f"X-Scope-OrgID: this API key may only write organization {own!r}")
    return own or asked


class LokiPush(ShipperView):
    protocol = "loki"

    async def post(self, request: web.Request) -> web.Response:
        try:
            tenant = loki_tenant(request)
            self.services.intake.admit(self.protocol)
            body = await self.inflated(request)
            max_bytes = self.settings.ingest_max_body_bytes
            items = decode_push(
                body, request.headers.get("Content-Type", ""), received_at=datetime.now(UTC), max_bytes=max_bytes
            )
            admitted = await self.take(request, items, tenant)
        except TenantMismatch as exc:
            return _text(403, str(exc))
        except BadBody as exc:
            status = {"too_large": 413, "payload_too_large": 413, "unsupported_media_type": 415}.get(exc.code, 400)
            return _text(status, f"{exc.code}: {exc.message}")
        except TryLater as exc:
            response = _text(429 if isinstance(exc, Backpressure | RateLimited) else 503, exc.message)
            response.headers.update({**exc.headers, "Retry-After": str(exc.retry_after)})
            return response
        if admitted.refused:
            stored = len(admitted.events)
            return _text(
                400, f"{len(admitted.refused)} entries refused, {stored} stored: {refusals(admitted, 'entry')}"
            )
        return aioweb.Response(status=204)  # type: ignore[return-value]


def _text(status: int, message: str) -> web.Response:
    return aioweb.Response(text=message + "\n", status=status)  # type: ignore[return-value]
