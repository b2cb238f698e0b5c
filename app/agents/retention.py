"""Retention: daily partitions ahead, expired ones dropped, expired dead letters deleted (RETENTION_DAYS)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiopg

from app.errors import StorageUnavailable
from app.settings import Settings
from app.storage import letter_rows, partitions

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)
RETRY_SECONDS = 60.0


async def enforce(pool: aiopg.Pool, settings: Settings) -> None:
    """One pass: the partitions of ``logs``, then the dead letters older than the window."""
    await partitions.maintain(pool, days_ahead=settings.partition_days_ahead, retention_days=settings.retention_days)
    cutoff = datetime.now(UTC) - timedelta(days=settings.retention_days)
    if pruned := await letter_rows.prune(pool, failed_before=cutoff):
        log.info("deleted %d dead letters that failed before %s", pruned, cutoff.isoformat(timespec="seconds"))


async def apply_retention(app: LogpipeApp) -> None:
    """At start (once the schema is there) and then every PARTITION_INTERVAL seconds, on every worker;
    an advisory lock keeps two from working on the partitions at once."""
    settings = app.settings
    pool = await app.services.database.wait_ready()
    while True:
        try:
            await enforce(pool, settings)
        except StorageUnavailable as exc:
            log.warning("retention postponed: %s", exc)
        except Exception:
            # Never take the worker down: rows still land (in logs_default at worst); try again soon.
            log.exception("retention failed; retrying in %.0fs", RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        await asyncio.sleep(settings.partition_interval)


def register(app: LogpipeApp) -> None:
    """Run the retention pass with ``app``'s worker."""

    @app.task  # type: ignore[untyped-decorator]  # Faust's task decorator is untyped
    async def retention() -> None:
        await apply_retention(app)
