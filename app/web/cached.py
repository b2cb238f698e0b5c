"""Reads answered through the response cache: fresh, stale while PostgreSQL is away, or a fast 503.

Query, search, event by id and ``hoursBack`` stats all answer this way. A
cached answer younger than its TTL is served as it is. Otherwise PostgreSQL
is asked through the circuit breaker (:meth:`Database.read`); when it cannot
answer (breaker open, read failed or too slow) the cached answer for the same
key is served if it is at most ``CACHE_STALE_MAX`` old, with ``Age`` and
``Warning: 110 - "Response is Stale"`` and the body unchanged (the Java
clients read bodies only). Keys carry the cache scope of the caller's
organization, so a stale answer never crosses tenants. With nothing cached
the answer is 503 ``database_unavailable`` with ``Retry-After``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final, cast

import aiopg
from aiohttp import web as aioweb
from faust import web

from app.errors import StorageUnavailable
from app.ops.metrics import STALE_ANSWERS
from app.services import Services
from app.storage.cache import CachedAnswer

STALE_WARNING: Final = '110 - "Response is Stale"'


def json_answer(body: bytes, headers: dict[str, str] | None = None) -> web.Response:
    response = aioweb.Response(body=body, content_type="application/json", headers=headers)
    return cast(web.Response, response)


def stale_answer(answer: CachedAnswer, now: float) -> web.Response:
    """The cached body as it was, marked with its age (whole seconds, RFC 9111) and the stale warning."""
    return json_answer(answer.body, {"Age": str(int(answer.age(now))), "Warning": STALE_WARNING})


async def read_through(
    services: Services,
    kind: str,
    key: str,
    ttl: float,
    compute: Callable[[aiopg.Pool], Awaitable[bytes | web.Response]],
) -> web.Response:
    """Answer from the cache or from ``compute`` (run through the breaker).

    ``compute`` gives the body to cache, or a response to send as it is and
    not cache (a 404: the event may arrive later).

    ``ttl`` 0 turns the cache off for this kind, stale answers with it.
    With no answer to give, :class:`StorageUnavailable` rises to the 503.
    """
    cache, stale_max = services.cache, services.settings.cache_stale_max
    cached = await cache.get_answer(kind, key, fresh_for=ttl) if ttl else None
    if cached is not None and cached.age(time.time()) <= ttl:
        return json_answer(cached.body)
    try:
        body = await services.database.read(compute)
    except StorageUnavailable:
        now = time.time()
        if cached is not None and cached.age(now) <= max(ttl, stale_max):
            STALE_ANSWERS.labels(kind).inc()
            return stale_answer(cached, now)
        raise
    if not isinstance(body, bytes):
        return body
    if ttl:
        await cache.set_answer(key, body, keep=max(ttl, stale_max))
    return json_answer(body)
