"""RFC 5424 syslog after the PRI: ``VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]``.

A message is taken as RFC 5424 when the version is ``1`` and five header
fields and a STRUCTURED-DATA that starts with ``-`` or ``[`` follow;
anything else is left to the RFC 3164 parser. STRUCTURED-DATA becomes
``{sd_id: {param: value}}`` with the RFC's escapes (``\\"``, ``\\\\``,
``\\]``) undone; a backslash before any other character stays, as 6.3.3
says. A PARAM-NAME repeated in one element (which the RFC allows) keeps
all its values as a list; a repeated SD-ID merges into the first. An
element that does not parse leaves everything from the STRUCTURED-DATA on
as the MSG, so nothing the sender wrote is lost.
"""

from __future__ import annotations

import re
from typing import Any, Final

from app.domain.protocols.syslog_header import SyslogHeader, decode_msg, decode_text, parse_rfc3339

_HEADER: Final = re.compile(rb"1 (\S+) (\S+) (\S+) (\S+) (\S+) ([-\[].*)", re.DOTALL)
_NAME_END: Final = frozenset(b' ="]')
_ESCAPABLE: Final = frozenset(b'"\\]')


def parse_rfc5424(rest: bytes) -> SyslogHeader | None:
    """The message after its PRI, or ``None`` when it is not RFC 5424."""
    found = _HEADER.fullmatch(rest)
    if found is None:
        return None
    stamp, hostname, app_name, procid, msgid, tail = found.groups()
    stamp_text = decode_text(stamp)
    timestamp = None if stamp == b"-" else parse_rfc3339(stamp_text)
    elements, after = _structured_data(tail)
    if elements is None:
        sd_raw, message = None, decode_msg(tail)
    else:
        sd_raw = decode_text(tail[: len(tail) - len(after)]) if elements else None
        message = decode_msg(after[1:])
    return SyslogHeader(
        format="rfc5424",
        message=message,
        timestamp=timestamp,
        timestamp_raw=stamp_text if timestamp is None and stamp != b"-" else None,
        hostname=_nil(hostname),
        app_name=_nil(app_name),
        procid=_nil(procid),
        msgid=_nil(msgid),
        structured_data=elements or None,
        structured_data_raw=sd_raw,
    )


def _nil(field: bytes) -> str | None:
    return None if field == b"-" else decode_text(field)


def _structured_data(data: bytes) -> tuple[dict[str, dict[str, Any]] | None, bytes]:
    """The SD elements at the start of ``data`` and what follows them; ``None`` if malformed."""
    if data[:1] == b"-" and data[1:2] in (b"", b" "):
        return {}, data[1:]
    elements: dict[str, dict[str, Any]] = {}
    position = 0
    while data[position : position + 1] == b"[":
        parsed = _element(data, position + 1)
        if parsed is None:
            return None, data
        sd_id, params, position = parsed
        merged = elements.setdefault(sd_id, {})
        for name, value in params.items():
            merged.setdefault(name, value)
    if position == 0 or data[position : position + 1] not in (b"", b" "):
        return None, data
    return elements, data[position:]


def _element(data: bytes, position: int) -> tuple[str, dict[str, Any], int] | None:
    """One ``SD-ID *(SP SD-PARAM) "]"`` from ``position`` (after its ``[``): id, params, where it ends."""
    sd_id, position = _name(data, position)
    if not sd_id:
        return None
    params: dict[str, Any] = {}
    while data[position : position + 1] == b" ":
        name, position = _name(data, position + 1)
        if not name or data[position : position + 2] != b'="':
            return None
        value, position = _value(data, position + 2)
        if value is None:
            return None
        previous = params.get(name)
        params[name] = value if previous is None else [*(previous if isinstance(previous, list) else [previous]), value]
    if data[position : position + 1] != b"]":
        return None
    return sd_id, params, position + 1


def _name(data: bytes, position: int) -> tuple[str, int]:
    end = position
    while end < len(data) and data[end] not in _NAME_END and 32 < data[end] < 127:
        end += 1
    return data[position:end].decode("ascii"), end


def _value(data: bytes, position: int) -> tuple[str | None, int]:
    """A PARAM-VALUE up to its closing quote, escapes undone; ``None`` if it never closes."""
    out = bytearray()
    while position < len(data):
        byte = data[position]
        if byte == 0x22:
            return decode_text(bytes(out)), position + 1
        if byte == 0x5C and position + 1 < len(data) and data[position + 1] in _ESCAPABLE:
            position += 1
            byte = data[position]
        out.append(byte)
        position += 1
    return None, position
