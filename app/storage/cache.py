"""Redis access (redis.asyncio): readiness now, the query cache later.

Redis is an optimisation, never a dependency: every call here fails soft.
"""

from __future__ import annotations

import redis.asyncio as redis
from mode import Service

from app.errors import StorageUnavailable


class Cache(Service):
    """One Redis client per worker, with short timeouts so a dead Redis costs little."""

    def __init__(self, url: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    async def ping(self) -> None:
        try:
            await self._client.ping()
        except (redis.RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis unavailable: {exc}") from exc

    async def on_stop(self) -> None:
        await self._client.aclose()
