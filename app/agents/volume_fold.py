"""Every worker folds the histogram's counter deltas into ``log_volume`` (VOLUME_FOLD_INTERVAL); one at a time."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from app.errors import StorageUnavailable
from app.storage import volume

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)


async def fold_volume(app: LogpipeApp) -> None:
    """Fold, then wait; the counters' answers do not depend on it (readers add the deltas), only their cost."""
    pool = await app.services.database.wait_ready()
    while True:
        try:
            await volume.fold(pool)
        except StorageUnavailable as exc:
            log.debug("volume fold postponed: %s", exc)
        except Exception:
            # Never take the worker down: the deltas wait, and every answer stays exact.
            log.exception("volume fold failed; retrying in %.0fs", app.settings.volume_fold_interval)
        await asyncio.sleep(app.settings.volume_fold_interval)


def register(app: LogpipeApp) -> None:
    """Fold with ``app``'s worker."""

    @app.task  # type: ignore[untyped-decorator]  # Faust's task decorator is untyped
    async def volume_fold() -> None:
        await fold_volume(app)
