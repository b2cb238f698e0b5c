"""Count agent: folds the per-batch deltas on ``logs.counts`` into the count table.

It iterates with ``async for`` (Faust allows table writes only inside
stream iteration) over one delta per persisted batch, so Faust's per-record
cost is paid per batch, not per event. See :mod:`app.tables.counts` for why
the result is exact.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import StreamT

from app.app import app
from app.counting import fold, table_key
from app.tables.counts import counts, mirror
from app.topics import COUNTS

log = logging.getLogger(__name__)
counts_topic = app.topic(COUNTS, value_type=bytes, value_serializer="json", partitions=1)


def apply_delta(delta: dict[str, Any]) -> int:
    """Fold one delta record into the table; returns how many counters changed."""
    partition, offset = int(delta["p"]), int(delta["o"])
    changed = 0
    for counter, n in delta["c"].items():
        key = table_key(counter)
        new = fold(counts.get(key), counter, int(n), partition, offset)
        if new is not None:
            counts[key] = new
            mirror.put(key, new)
            changed += 1
    return changed


@app.agent(counts_topic, name="count")
async def count(stream: StreamT[Any]) -> None:
    async for delta in stream:
        if isinstance(delta, dict) and {"p", "o", "c"} <= delta.keys():
            apply_delta(delta)
        else:
            log.error("ignoring a %s record that is not a count delta: %.200r", COUNTS, delta)
