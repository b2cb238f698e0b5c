"""What protocol decoders return, narrowed for tests: events where a test expects only events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.domain.protocols import Item, Refused


def events(items: Sequence[Item]) -> list[dict[str, Any]]:
    """``items``, each asserted to be an event and not a :class:`Refused`."""
    refused = [item for item in items if isinstance(item, Refused)]
    assert not refused, f"refused: {refused}"
    return [item for item in items if isinstance(item, dict)]
