"""Syslog messages (RFC 5424 and RFC 3164) as logpipe events.

One message, from a UDP datagram or a TCP frame (:mod:`.syslog_framing`),
becomes one event:

* PRI gives the facility (``metadata.facility``, by name: ``local0``,
  ``auth``, ...) and the severity (``metadata.severity``, by keyword), and
  the level: emerg, alert and crit are FATAL, err ERROR, warning WARN,
  notice and info INFO, debug DEBUG. A message without a PRI (or with one
  out of range) is read as RFC 3164 at ``user.notice``, the PRI 13 a relay
  adds to it (RFC 3164 4.3.3).
* ``source`` is the APP-NAME (RFC 5424) or TAG (RFC 3164), else the
  HOSTNAME, else ``"syslog"``; a candidate the model would refuse (not
  printable, too long) is skipped.
* ``timestamp`` is the message's own, in UTC; without one (NILVALUE, or
  none in a headerless message) or with an impossible one, ``received_at``,
  the raw text kept as ``metadata.timestamp_raw``.
* ``metadata`` holds ``facility``, ``severity``, ``format`` (``rfc5424`` or
  ``rfc3164``), and what the sender gave of ``hostname``, ``procid``,
  ``msgid`` and ``structured_data``.
* The MSG loses a leading UTF-8 BOM and is decoded as UTF-8 with
  replacement (NULs replaced too). A message with only STRUCTURED-DATA
  (RFC 5424 6.5 example 4) takes the STRUCTURED-DATA text as its message.

Never raises: empty input, an empty MSG, or an event the model would refuse
for its size comes back as a :class:`Refused`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from app.domain.protocols import Item, Refused
from app.domain.protocols.limits import refusal, usable_source
from app.domain.protocols.syslog_header import SyslogHeader
from app.domain.protocols.syslog_rfc3164 import parse_rfc3164
from app.domain.protocols.syslog_rfc5424 import parse_rfc5424

FACILITIES: Final = (
    *("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news"),
    *("uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron"),
    *(f"local{number}" for number in range(8)),
)
"""Facility names by code, as Python's ``SysLogHandler.facility_names`` spells them."""

SEVERITIES: Final = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
"""Severity keywords by code (RFC 5424 table 2, ``syslog.h``)."""

SEVERITY_LEVELS: Final = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")
"""logpipe's level for each severity code."""

DEFAULT_SOURCE: Final = "syslog"
_NO_PRI: Final = 13
_PRI: Final = re.compile(rb"<(\d{1,3})>")
_TRAILERS: Final = b"\r\n\x00"


def parse_message(data: bytes, *, received_at: datetime) -> Item:
    """One syslog message (trailing CR, LF and NUL ignored) as an event, or why it cannot be one."""
    data = data.rstrip(_TRAILERS)
    if not data.strip():
        return Refused("message", "required", "a syslog message must not be empty")
    found = _PRI.match(data)
    pri = int(found.group(1)) if found else _NO_PRI
    if found is None or pri >= len(FACILITIES) * 8:
        pri, rest = _NO_PRI, data
    else:
        rest = data[found.end() :]
    header = (parse_rfc5424(rest) if found else None) or parse_rfc3164(rest, received_at=received_at)
    return _event(header, pri, received_at)


def _event(header: SyslogHeader, pri: int, received_at: datetime) -> Item:
    facility, severity = divmod(pri, 8)
    message = header.message if header.message.strip() else header.structured_data_raw or ""
    if not message:
        return Refused("message", "required", "the syslog message has no MSG part")
    moment = header.timestamp or (received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC))
    event: dict[str, Any] = {
        "message": message,
        "level": SEVERITY_LEVELS[severity],
        "source": _source(header),
        "timestamp": moment.astimezone(UTC).isoformat(),
        "metadata": _metadata(header, facility, severity),
    }
    return refusal(event) or event


def _source(header: SyslogHeader) -> str:
    for candidate in (header.app_name, header.hostname):
        if candidate is not None and usable_source(candidate):
            return candidate
    return DEFAULT_SOURCE


def _metadata(header: SyslogHeader, facility: int, severity: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "facility": FACILITIES[facility],
        "severity": SEVERITIES[severity],
        "format": header.format,
    }
    given = {
        "hostname": header.hostname,
        "app_name": header.app_name if header.app_name and not usable_source(header.app_name) else None,
        "procid": header.procid,
        "msgid": header.msgid,
        "structured_data": header.structured_data,
        "timestamp_raw": header.timestamp_raw,
    }
    metadata.update((key, value) for key, value in given.items() if value)
    return metadata
