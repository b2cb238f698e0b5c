"""Several workers in one consumer group: who owns which partitions, as each worker's ``/ready`` tells."""

from __future__ import annotations

import time

from tests.support.deadlines import wait_for
from tests.support.workers import Worker, WorkerFactory

ALL = [0, 1, 2, 3]
"""The partitions of each of logpipe's topics."""


async def owned(worker: Worker, topic: str = "logs.events") -> list[int]:
    """The partitions of ``topic`` the worker says it owns (none while it does not answer with a body)."""
    _, body = await worker.fetch("/ready")
    return list(body.get("partitions", {}).get(topic, [])) if body else []


async def owns_all(worker: Worker, *topics: str) -> bool:
    """Whether the worker owns every partition of each of ``topics`` (default: logs.events)."""
    return all([await owned(worker, topic) == ALL for topic in topics or ("logs.events",)])


async def split_between(workers: list[Worker]) -> bool:
    """Every worker owns some partitions of both input topics, and together all of them, once."""
    for topic in ("logs.events", "logs.raw"):
        shares = [await owned(w, topic) for w in workers]
        if not all(shares) or sorted(p for share in shares for p in share) != ALL:
            return False
    return True


async def start_group(factory: WorkerFactory, n: int) -> tuple[list[Worker], float]:
    """``n`` workers started one after another; returns them once they split the partitions, and how long it took."""
    started = time.monotonic()
    workers = [await factory.start(f"w{i}") for i in range(n)]
    await wait_for(lambda: split_between(workers), timeout=90, what=f"{n} workers to split the partitions")
    return workers, time.monotonic() - started
