"""Keyset cursors: the sort key of the last row shown, as an opaque URL-safe string.

One codec for every paged answer (log queries, dead letters): a cursor is
the JSON array of the row's sort key, base64url without padding. A cursor
this API did not hand out is refused with the field and rule named.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from app.errors import QueryError


def encode(key: Sequence[Any]) -> str:
    """The cursor after a row whose sort key is ``key``."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode(raw: str, size: int) -> list[Any]:
    """The sort key of a cursor (``size`` parts); raises :class:`QueryError` for anything else."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError, binascii.Error):
        key = None
    if not isinstance(key, list) or len(key) != size:
        raise QueryError("cursor", "cursor", "is not a cursor this API returned")
    return key
