"""Batch envelopes: many events in one ``logs.events`` record.

Faust pays ~100-150 µs per record whatever its size, so internal topics
carry events in batches; an envelope is a JSON array of wire-format events,
kept under a byte budget so it fits a broker's message size limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson


def pack(events: Iterable[dict[str, Any]], max_bytes: int) -> Iterator[bytes]:
    """Serialise events into JSON-array envelopes of at most ``max_bytes`` each.

    An event larger than ``max_bytes`` on its own still gets an envelope of
    its own (the event rules cap an event well below any sane budget).
    """
    parts: list[bytes] = []
    size = 2
    for event in events:
        encoded = orjson.dumps(event)
        if parts and size + len(encoded) + 1 > max_bytes:
            yield b"[" + b",".join(parts) + b"]"
            parts, size = [], 2
        parts.append(encoded)
        size += len(encoded) + 1
    if parts:
        yield b"[" + b",".join(parts) + b"]"


def unpack(envelope: bytes) -> list[dict[str, Any]]:
    """The events of one envelope; raises ``ValueError`` when it is not one."""
    events = orjson.loads(envelope)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("an envelope must be a JSON array of objects")
    return events
