"""Creating logpipe's topics on the broker (see :mod:`app.domain.topic_layout` for what they are)."""

from __future__ import annotations

import logging
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.domain.topic_layout import TopicSpec

log = logging.getLogger(__name__)
_TOPIC_ALREADY_EXISTS: Final = 36


async def create_topics(bootstrap: str, specs: list[TopicSpec], replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the names created now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, replication, topic_configs=s.config) for s in specs]
        )
    finally:
        await admin.close()
    created = []
    for error in response.topic_errors:
        name, code = error[0], error[1]
        message = error[2] if len(error) > 2 else ""
        if code == 0:
            created.append(name)
            log.info("created topic %s", name)
        elif code != _TOPIC_ALREADY_EXISTS:
            raise RuntimeError(f"could not create topic {name}: error {code} {message}")
    return created


async def mend_partition_counts(bootstrap: str, specs: list[TopicSpec], disposable: set[str]) -> list[str]:
    """Delete and create again the ``disposable`` topics whose partition count is not their spec's; returns them.

    A broker that came back empty creates a topic when a client first asks
    for its metadata, with the broker's default partition count: a
    one-partition topic can come back with four before logpipe creates it.
    Only topics whose records are rebuilt elsewhere may go (the count deltas
    and the count table's changelog: the table is rebuilt from the rows
    right after); any other is reported.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics([s.name for s in specs])}
        wrong = [s for s in specs if described.get(s.name, s.partitions) != s.partitions]
        mended = [s for s in wrong if s.name in disposable]
        for spec in wrong:
            has, mending = described[spec.name], spec in mended
            then = "deleting it and creating it again" if mending else "delete it for logpipe to create it"
            log.warning("topic %s has %d partitions, not %d: %s", spec.name, has, spec.partitions, then)
        if mended:
            await admin.delete_topics([s.name for s in mended])
    finally:
        await admin.close()
    if mended:
        await create_topics(bootstrap, mended)
    return [s.name for s in mended]
