"""Rate limits on the HTTP API, per API key (or per client address when auth is off).

Reads (query, search, one event, stats, tail, dead letters) are limited by
the middleware, before the handler runs. Ingest is limited by its views,
once the body is parsed, because a batch is charged per event as well as
per request — still one Redis round trip per request. Every limited answer
carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``; a refused one
is 429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiohttp import web as aioweb
from faust import web

from app.domain.buckets import Decision
from app.domain.keys import ANONYMOUS, Principal
from app.kafka.intake import Intake
from app.web.access import PRINCIPAL, role_of

Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]
DECISION = "logpipe.ratelimit"


def identity_of(request: web.Request) -> str:
    """Whose allowance a request spends: its key's name, or its address when auth is off."""
    principal = cast(aioweb.Request, request).get(PRINCIPAL)
    if isinstance(principal, Principal) and principal is not ANONYMOUS:
        return "key:" + principal.name
    return "addr:" + (cast(aioweb.Request, request).remote or "unknown")


def rate_limits(intake: Intake) -> Any:
    """The middleware: limits reads itself (a refusal rises as :class:`~app.errors.RateLimited`), and puts the
    headers of any decision, a view's too, on the answer."""

    @aioweb.middleware
    async def middleware(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
        if role_of(request) in ("query", "admin"):
            decision = await intake.charge(identity_of(cast(web.Request, request)), "query", 0)
            if decision is not None:
                request[DECISION] = decision
        response = await handler(request)
        taken = request.get(DECISION)
        if isinstance(taken, Decision) and not response.prepared:
            response.headers.update(taken.headers())
        return response

    return middleware
