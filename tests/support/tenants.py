"""API keys of two tenants (acme, globex), a read-only acme key and an admin, and a worker that admits them."""

from __future__ import annotations

from typing import Any

import orjson

from app.domain.keys import hash_key, new_key
from tests.support.workers import Worker, WorkerFactory

ACME, ACME_READER, GLOBEX, ADMIN = new_key(), new_key(), new_key(), new_key()
KEYS = {
    hash_key(ACME): {"organization": "acme", "roles": ["ingest", "query"]},
    hash_key(ACME_READER): {"organization": "acme", "roles": ["query"]},
    hash_key(GLOBEX): {"organization": "globex", "roles": ["ingest", "query"]},
    hash_key(ADMIN): {"organization": None, "roles": ["admin"]},
}


def as_(key: str) -> dict[str, Any]:
    """Request options that send ``key``: ``call(http, "GET", url, **as_(ACME))``."""
    return {"headers": {"X-API-Key": key}}


async def secured_worker(workers: WorkerFactory) -> Worker:
    """A ready worker with auth on and :data:`KEYS` (``/ready`` is open: orchestrators probe it without a key)."""
    return await workers.ready(AUTH_ENABLED="true", API_KEYS=orjson.dumps(KEYS).decode())
