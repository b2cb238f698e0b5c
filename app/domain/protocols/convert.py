"""Conversions every decoder needs: media types, nanosecond clocks and level names.

Shippers speak in nanoseconds since the epoch and in level words of their
own ("Information", "warning"); logpipe keeps UTC datetimes and six level
names. Keeping these here means a level word or a timestamp is read the
same way whichever protocol brought it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from app.models import normalise_level

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def media_type(content_type: str | None) -> str:
    """The bare media type of a ``Content-Type`` value, lower case, its parameters (``; charset=...``) dropped."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def from_unix_nano(nanos: int) -> datetime:
    """A UTC datetime for nanoseconds since the epoch, truncated to microseconds (all Python keeps).

    Raises :class:`OverflowError` outside years 1 to 9999.
    """
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def known_level(text: str) -> str | None:
    """``text`` as one of logpipe's levels (``warning`` is ``WARN``), or ``None`` if it names none."""
    try:
        level: str = normalise_level(text)
    except ValueError:
        return None
    return level
