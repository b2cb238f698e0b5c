"""The topics logpipe reads and writes: their names, partitions and limits (pure: created by
:mod:`app.kafka.topic_admin`).

Topics are created explicitly with the configured partition count before
anything consumes: brokers that auto-create topics give them their own
default (often one partition), which would cap how far workers scale out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

RAW: Final = "logs.raw"
EVENTS: Final = "logs.events"
DLQ: Final = "logs.dlq"
COUNTS: Final = "logs.counts"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def raw_topic_max_bytes(raw_max_bytes: int) -> int:
    """The largest record ``logs.raw`` takes: above any valid event, so bad ones get a reason."""
    return max(2 * 1024 * 1024, 2 * raw_max_bytes)


def dlq_topic_max_bytes(raw_max_bytes: int) -> int:
    """The largest record ``logs.dlq`` takes: a raw record plus room for headers."""
    return raw_topic_max_bytes(raw_max_bytes) + 64 * 1024


def topic_specs(partitions: int, raw_max_bytes: int) -> list[TopicSpec]:
    """Every topic of the pipeline as it should exist.

    ``logs.counts`` has one partition: it carries one small delta per
    persisted batch, and the count table co-partitioned with it is a global
    table that Faust recommends keeping at one partition.
    ``logs.raw`` accepts records larger than an event may be, so that an
    oversized one reaches the validate stage and is dead-lettered with its
    reason instead of being refused where nobody sees why; ``logs.dlq`` a
    little more again, since it keeps the original bytes and adds headers.
    """
    raw_max, dlq_max = raw_topic_max_bytes(raw_max_bytes), dlq_topic_max_bytes(raw_max_bytes)
    return [
        TopicSpec(RAW, partitions, {"max.message.bytes": str(raw_max)}),
        TopicSpec(EVENTS, partitions, {}),
        TopicSpec(DLQ, partitions, {"max.message.bytes": str(dlq_max)}),
        TopicSpec(COUNTS, 1, {}),
    ]
