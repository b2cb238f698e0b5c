"""What both syslog formats parse into, and the pieces they share: RFC 3339 times and MSG text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from app.domain.protocols.limits import clean_text

_BOM: Final = b"\xef\xbb\xbf"
# RFC 3339 as RFC 5424 6.2.3 profiles it; lower-case t/z and up to nine fraction digits are tolerated.
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))"
)


@dataclass(frozen=True, slots=True)
class SyslogHeader:
    """One syslog message taken apart; ``None`` where the sender gave no value (or the NILVALUE)."""

    format: str
    message: str
    timestamp: datetime | None = None
    timestamp_raw: str | None = None
    hostname: str | None = None
    app_name: str | None = None
    procid: str | None = None
    msgid: str | None = None
    structured_data: dict[str, dict[str, Any]] | None = None
    structured_data_raw: str | None = None


def parse_rfc3339(text: str) -> datetime | None:
    """``text`` as an aware UTC datetime, or ``None`` when it is no RFC 3339 time (leap seconds included)."""
    found = _RFC3339.fullmatch(text)
    if found is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in found.group(1, 2, 3, 4, 5, 6))
    micros = int((found.group(7) or "0")[:6].ljust(6, "0"))
    sign, offset_hours, offset_minutes = found.group(8, 9, 10)
    try:
        offset = timedelta(hours=int(offset_hours or 0), minutes=int(offset_minutes or 0))
        zone = timezone(-offset if sign == "-" else offset)
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=zone).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def decode_text(raw: bytes) -> str:
    """Header bytes as text: UTF-8, undecodable bytes and NULs replaced."""
    return clean_text(raw.decode("utf-8", errors="replace"))


def decode_msg(raw: bytes) -> str:
    """MSG bytes as text: a leading UTF-8 BOM dropped (RFC 5424 6.4), then :func:`decode_text`, without the
    spaces it begins with (rsyslog's ``msg`` keeps the one that followed the tag, and forwards it)."""
    return decode_text(raw.removeprefix(_BOM).lstrip(b" "))
