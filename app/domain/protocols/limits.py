"""The event rules a byte-level decoder must meet itself, before the model sees its output.

The syslog and form decoders build every field from raw bytes, so they owe
the model an event it can take or a :class:`Refused` that says why not; the
JSON shapes, whose values the shipper chose, leave that to the model. The
limits are the model's own constants, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.domain.protocols import Refused
from app.models import MESSAGE_MAX_BYTES, METADATA_MAX_BYTES, SOURCE_MAX_CHARS


def clean_text(text: str) -> str:
    """``text`` with NUL characters, which the model refuses, replaced like undecodable bytes."""
    return text.replace("\x00", "\ufffd")


def usable_source(candidate: str | None) -> bool:
    """Whether ``candidate`` is a source the model accepts (1-255 printable characters)."""
    return bool(candidate) and len(candidate or "") <= SOURCE_MAX_CHARS and (candidate or "").isprintable()


def refusal(event: dict[str, Any]) -> Refused | None:
    """Why the model would refuse ``event``'s message or metadata for their size or blankness, if it would."""
    message = event.get("message")
    if not isinstance(message, str) or not message.strip():
        return Refused("message", "not_blank", "must not be empty or blank")
    if len(message.encode()) > MESSAGE_MAX_BYTES:
        return Refused("message", "max_bytes", f"must be at most {MESSAGE_MAX_BYTES} bytes of UTF-8")
    metadata = event.get("metadata")
    if metadata and len(orjson.dumps(metadata)) > METADATA_MAX_BYTES:
        return Refused("metadata", "max_bytes", f"must be at most {METADATA_MAX_BYTES} bytes serialised as JSON")
    return None
