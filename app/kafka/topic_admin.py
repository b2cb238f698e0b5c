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
