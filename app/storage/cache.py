"""Redis (redis.asyncio): readiness, the response cache, and scripts (rate limits).

Redis is an optimisation, never a dependency: every call fails soft. After
a failure Redis is left alone for a few seconds, so a dead Redis costs
requests nothing rather than a connect timeout each.

A cached answer is kept with the wall-clock time it was made (every worker
reads every other's, so not a monotonic clock): fresh for its TTL, and kept
longer (``CACHE_STALE_MAX``) so that it can still be served, marked stale,
while PostgreSQL is away.
"""

from __future__ import annotations

import logging
import struct
import time
from dataclasses import dataclass
from typing import Any, Final, cast

import redis.asyncio as redis
from mode import Service

from app.errors import StorageUnavailable
from app.ops.metrics import CACHE_REQUESTS
from app.storage.edge import redis_errors

log = logging.getLogger(__name__)
BACKOFF_SECONDS = 5.0
MAX_CONNECTIONS = 32
# A stored answer: this tag, the epoch seconds it was made (big-endian double), the body. A value
# without the tag (written before answers carried their time) is a miss, never a body.
_ANSWER_TAG: Final = b"\x00lpa1"
_STAMP: Final = struct.Struct(">d")


@dataclass(frozen=True)
class CachedAnswer:
    """A response body and when it was made (epoch seconds)."""

    body: bytes
    made_at: float

    def age(self, now: float) -> float:
        return max(0.0, now - self.made_at)


def pack_answer(answer: CachedAnswer) -> bytes:
    return _ANSWER_TAG + _STAMP.pack(answer.made_at) + answer.body


def unpack_answer(value: bytes) -> CachedAnswer | None:
    """The answer a cache value holds, or ``None`` for a value in no form we wrote."""
    head = len(_ANSWER_TAG) + _STAMP.size
    if not value.startswith(_ANSWER_TAG) or len(value) < head:
        return None
    (made_at,) = _STAMP.unpack_from(value, len(_ANSWER_TAG))
    return CachedAnswer(value[head:], made_at)


class Cache(Service):
    """One Redis client per worker, with short timeouts."""

    def __init__(self, url: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # A bounded pool: a burst of concurrent requests waits for a connection (briefly) instead of
        # opening hundreds at once, timing some out, and taking a healthy Redis for a dead one.
        # Replies are parsed by hiredis (installed with redis[hiredis]): a rate-limit check costs
        # ~106 us of this process's CPU with it, ~131 us without.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=1.0, socket_timeout=0.25, socket_connect_timeout=0.25
        )
        self._client = redis.Redis.from_pool(pool)  # owns the pool: aclose() closes its connections
        self._skip_until = 0.0
        self._scripts: dict[str, Any] = {}

    async def ping(self) -> None:
        with redis_errors():
            await self._client.ping()

    def _failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self._skip_until:
            log.warning("Redis unavailable (%s); serving uncached for %.0fs", exc, BACKOFF_SECONDS)
        self._skip_until = time.monotonic() + BACKOFF_SECONDS

    async def get_answer(self, kind: str, key: str, fresh_for: float) -> CachedAnswer | None:
        """The cached answer however old, or ``None`` on a miss or when Redis is away.

        Counted as a hit only when it is at most ``fresh_for`` seconds old: an
        older one is served only while PostgreSQL cannot give a fresh one.
        """
        if not self.available:
            CACHE_REQUESTS.labels(kind, "error").inc()
            return None
        try:
            with redis_errors():
                value = cast(bytes | None, await self._client.get(key))
        except StorageUnavailable as exc:
            self._failed(exc)
            CACHE_REQUESTS.labels(kind, "error").inc()
            return None
        answer = unpack_answer(value) if value is not None else None
        fresh = answer is not None and answer.age(time.time()) <= fresh_for
        CACHE_REQUESTS.labels(kind, "hit" if fresh else "miss").inc()
        return answer

    async def set_answer(self, key: str, body: bytes, keep: float) -> None:
        """Store ``body`` as made now, kept ``keep`` seconds (its TTL, or longer to serve it stale)."""
        if not self.available:
            return
        try:
            with redis_errors():
                await self._client.set(key, pack_answer(CachedAnswer(body, time.time())), px=max(int(keep * 1000), 1))
        except StorageUnavailable as exc:
            self._failed(exc)

    @property
    def available(self) -> bool:
        """False while Redis is being left alone after a failure."""
        return time.monotonic() >= self._skip_until

    async def run_script(self, script: str, keys: list[str], args: list[Any]) -> Any | None:
        """Run a Lua script (EVALSHA, loading it once); ``None`` when Redis is away."""
        if not self.available:
            return None
        runner = self._scripts.get(script)
        if runner is None:
            runner = self._scripts[script] = self._client.register_script(script)
        try:
            with redis_errors():
                return await runner(keys=keys, args=args)
        except StorageUnavailable as exc:
            self._failed(exc)
            return None

    async def on_stop(self) -> None:
        await self._client.aclose()
