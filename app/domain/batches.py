"""A taken batch of ``logs.events`` envelopes split into per-partition shares (pure: no I/O).

Each share is written in its own transaction; what does not belong in one
(an envelope that is not one, a row PostgreSQL refused) becomes a dead
letter that names the envelope's offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.domain.deadletters import DeadLetter, Reason
from app.domain.envelopes import unpack
from app.domain.topic_layout import EVENTS


@dataclass(slots=True)
class PartitionBatch:
    """One partition's share of a taken batch."""

    partition: int
    end_offset: int = -1
    events: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    traceparents: list[str] = field(default_factory=list)


def traceparents_of(headers: Any) -> list[str]:
    """The ``traceparent`` headers of a record (Faust gives a list of pairs or a mapping)."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    return [value.decode() if isinstance(value, bytes) else str(value) for key, value in pairs if key == "traceparent"]


def group_by_partition(items: Sequence[tuple[int, int, bytes | None]]) -> list[PartitionBatch]:
    """Split ``(partition, offset, envelope)`` items into per-partition batches.

    An envelope that is not one (written to the topic by something else) is
    dead-lettered instead of failing the batch. An id already taken by another
    partition's share of this batch is left out: the shares are written
    concurrently, so neither transaction would see the other's copy, and a
    resent event without a timestamp (stamped at each receipt) would be stored
    twice. Within one share ``DISTINCT ON`` keeps one; across batches the
    earlier batch has committed and the id lookup finds it.
    """
    groups: dict[int, PartitionBatch] = {}
    owner: dict[Any, int] = {}  # event id -> the partition whose share keeps it
    for partition, offset, value in items:
        group = groups.setdefault(partition, PartitionBatch(partition))
        group.end_offset = max(group.end_offset, offset)
        try:
            events = unpack(value or b"")
        except ValueError as exc:
            group.dead.append(DeadLetter(value or b"", None, Reason.NOT_JSON, str(exc), EVENTS, partition, offset))
            continue
        for event in events:
            event_id = event.get("id")
            if event_id is None or owner.setdefault(event_id, partition) == partition:
                group.events.append(event)
                group.offsets.append(offset)
    return list(groups.values())


def rejected_letters(group: PartitionBatch, rejected: list[tuple[dict[str, Any], str]]) -> list[DeadLetter]:
    """Dead letters for the rows PostgreSQL refused, each with its envelope's offset."""
    index = {id(event): i for i, event in enumerate(group.events)}
    return [
        DeadLetter(
            orjson.dumps(event),
            None,
            Reason.REJECTED_BY_DATABASE,
            reason,
            EVENTS,
            group.partition,
            group.offsets[index[id(event)]] if id(event) in index else group.end_offset,
        )
        for event, reason in rejected
    ]
