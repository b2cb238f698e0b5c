"""RFC 3164 ("BSD") syslog after the PRI: ``TIMESTAMP SP HOSTNAME SP TAG[PID]: CONTENT``, and what passes for it.

* TIMESTAMP is ``Mmm dd hh:mm:ss`` (a space pads a one-digit day; one space
  or a zero pad is tolerated, as are fractions) or, as rsyslog's
  ``RSYSLOG_ForwardFormat`` sends, an RFC 3339 time. The BSD form has no
  year and no zone: it is read as UTC, in the year that puts it at most a
  day after ``received_at`` (so ``Dec 31`` received on 1 January is last
  year's, and ``Jan 1`` received on 31 December is next year's). A
  timestamp of the right shape but an impossible value (``Feb 30``) is
  kept raw and the message is dated ``received_at``.
* HOSTNAME is the word after the timestamp, unless that word is already a
  TAG (``su:``, ``myapp[42]:``), as glibc's ``syslog(3)`` writes to
  ``/dev/log`` without a hostname.
* TAG is up to 48 characters other than space, ``:``, ``[`` and ``]``,
  with an optional ``[PID]``, ending in ``:`` and a space (or the end).
  Without one the whole rest is the message.
* With no timestamp at all (Python's ``SysLogHandler`` sends
  ``<PRI>message`` with no header; a relay would add one, 4.3.2), the whole
  rest is the message, unchanged; only a leading ``tag:`` or ``tag[pid]:``
  in it is read, to name the source.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from app.domain.protocols.syslog_header import SyslogHeader, decode_msg, decode_text, parse_rfc3339

_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_BSD_TIME: Final = re.compile(rb"([A-Za-z]{3}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?= |\Z)")
_ISO_TIME: Final = re.compile(rb"\d{4}-\d{2}-\d{2}[Tt]\S+(?= |\Z)")
_TAG: Final = re.compile(rb"([^\s:\[\]]{1,48})(?:\[([^\s\[\]]{1,128})\])?:(?: |\Z)")
_FUTURE_SLACK: Final = timedelta(days=1)


def parse_rfc3164(rest: bytes, *, received_at: datetime) -> SyslogHeader:
    """The message after its PRI (or all of a message without one); never fails."""
    stamp = _timestamp(rest, received_at)
    if stamp is None:
        tag = _TAG.match(rest)
        return SyslogHeader(
            format="rfc3164",
            message=decode_msg(rest),
            app_name=decode_text(tag.group(1)) if tag else None,
            procid=decode_text(tag.group(2)) if tag and tag.group(2) else None,
        )
    timestamp, raw, after = stamp
    hostname = None
    if after and not _TAG.match(after):
        word, _, after = after.partition(b" ")
        hostname = decode_text(word)
    tag = _TAG.match(after)
    content = after[tag.end() :] if tag else after
    return SyslogHeader(
        format="rfc3164",
        message=decode_msg(content),
        timestamp=timestamp,
        timestamp_raw=raw,
        hostname=hostname,
        app_name=decode_text(tag.group(1)) if tag else None,
        procid=decode_text(tag.group(2)) if tag and tag.group(2) else None,
    )


def _timestamp(rest: bytes, received_at: datetime) -> tuple[datetime | None, str | None, bytes] | None:
    """The header's time (``None`` and the raw text if impossible) and the bytes after it; ``None`` if no header."""
    iso = _ISO_TIME.match(rest)
    if iso is not None:
        text = decode_text(iso.group())
        moment = parse_rfc3339(text)
        return moment, None if moment else text, rest[iso.end() + 1 :]
    bsd = _BSD_TIME.match(rest)
    if bsd is None or bsd.group(1).lower().decode() not in _MONTHS:
        return None
    month = _MONTHS.index(bsd.group(1).lower().decode()) + 1
    day, hour, minute, second = (int(part) for part in bsd.group(2, 3, 4, 5))
    micros = int((bsd.group(6) or b"0").ljust(6, b"0"))
    moment = _in_year(month, day, hour, minute, second, micros, received_at)
    return moment, None if moment else decode_text(bsd.group()), rest[bsd.end() + 1 :]


def _in_year(
    month: int, day: int, hour: int, minute: int, second: int, micros: int, received_at: datetime
) -> datetime | None:
    """The latest of last, this and next year's dates that is at most a day after ``received_at``."""
    received = received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)
    for year in (received.year + 1, received.year, received.year - 1):
        try:
            moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
        except ValueError:
            continue
        if moment <= received + _FUTURE_SLACK:
            return moment
    return None
