"""Partition maintenance: daily partitions ahead, expired ones dropped (RETENTION_DAYS)."""

from __future__ import annotations

import asyncio
import logging

from app.app import app, database, settings
from app.errors import StorageUnavailable
from app.storage import partitions

log = logging.getLogger(__name__)
RETRY_SECONDS = 60.0


@app.task  # type: ignore[untyped-decorator]  # Faust's task decorator is untyped
async def maintain_partitions() -> None:
    """At start (once the schema is there) and then every PARTITION_INTERVAL seconds, on every worker;
    an advisory lock keeps two from working at once."""
    pool = await database.wait_ready()
    while True:
        try:
            await partitions.maintain(
                pool, days_ahead=settings.partition_days_ahead, retention_days=settings.retention_days
            )
        except StorageUnavailable as exc:
            log.warning("partition maintenance postponed: %s", exc)
        except Exception:
            # Never take the worker down: rows still land (in logs_default at worst); try again soon.
            log.exception("partition maintenance failed; retrying in %.0fs", RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        await asyncio.sleep(settings.partition_interval)
