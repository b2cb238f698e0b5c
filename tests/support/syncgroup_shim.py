"""Test-only: delay the group leader's SyncGroup for librdkafka's mock cluster.

The mock rejects (INVALID_REQUEST) a follower's SyncGroup that arrives after
the leader's, which Apache Kafka accepts; aiokafka can hit this when several
members join at once. Delaying the leader's SyncGroup by ~0.5 s lets the
followers' requests arrive first. Loaded only into workers a test starts
against the mock (see ``shim_sitecustomize``), never into the app.
"""

from __future__ import annotations

import asyncio
from typing import Any

LEADER_DELAY_SECONDS = 0.5
_MARK = "_logpipe_syncgroup_shim"


def install() -> None:
    from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance

    original = CoordinatorGroupRebalance._on_join_leader
    if getattr(original, _MARK, False):
        return

    async def _on_join_leader(self: Any, response: Any) -> Any:
        await asyncio.sleep(LEADER_DELAY_SECONDS)
        return await original(self, response)

    setattr(_on_join_leader, _MARK, True)
    CoordinatorGroupRebalance._on_join_leader = _on_join_leader
