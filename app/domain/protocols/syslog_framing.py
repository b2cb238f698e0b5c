"""Syslog over TCP: cutting a byte stream into messages (RFC 6587), with bounded memory.

Two framings share one port, told apart per frame by its first byte, as
rsyslog's imtcp does:

* octet counting (RFC 6587 3.4.1): ``MSG-LEN SP SYSLOG-MSG``, where MSG-LEN
  is a decimal byte count; chosen when a frame starts with a digit and the
  digits (at most 10) end in a space. rsyslog ``omfwd`` with
  ``TCP_Framing="octet-counted"`` and syslog-ng's ``syslog()`` driver send it.
* non-transparent framing (3.4.2): a message ends at LF, and also at NUL;
  a CR before the LF is dropped. Python's ``SysLogHandler`` over TCP sends
  ``<PRI>message`` followed only by NUL (``append_nul``), no LF, so NUL
  has to end a frame, not merely trail one.

A line that starts with digits and a space (``"2024 ..."`` with no PRI) is
read as octet counted: the per-frame choice cannot tell them apart. Empty
frames and the LF, CR or NUL between frames are skipped.

A frame longer than ``max_frame`` is refused as soon as that is known and
never buffered whole: a counted frame's bytes are dropped as they arrive,
an over-long line is dropped up to its LF or NUL. So the buffer never
holds more than ``max_frame`` plus one chunk.
"""

from __future__ import annotations

import re
from typing import Final

from app.domain.protocols import Refused

_MAX_COUNT_DIGITS: Final = 10
_BETWEEN_FRAMES: Final = b"\r\n\x00"
_DELIMITER: Final = re.compile(rb"[\n\x00]")


class Framer:
    """An incremental framer for one TCP connection: feed it chunks, get whole frames back."""

    def __init__(self, max_frame: int) -> None:
        self._max = max_frame
        self._buffer = bytearray()
        self._counted: int | None = None
        self._discard = 0
        self._dropping_line = False

    def feed(self, chunk: bytes) -> list[bytes | Refused]:
        """The frames ``chunk`` completes, in order, each a message or a :class:`Refused` over-long frame."""
        self._buffer += chunk
        frames: list[bytes | Refused] = []
        while (progress := self._step()) is not None:
            if progress:
                frames.append(progress)
        return frames

    def close(self) -> list[bytes | Refused]:
        """At end of stream: a last line without LF is a frame; a counted frame cut short is refused."""
        frames = self.feed(b"")
        rest = bytes(self._buffer).rstrip(_BETWEEN_FRAMES)
        if self._counted is not None:
            short = self._counted - len(self._buffer)
            frames.append(Refused("frame", "truncated", f"the stream ended {short} bytes short of a counted frame"))
        elif rest and not self._dropping_line and not self._discard:
            last = rest.rstrip(b"\r")
            frames.append(_too_long(self._max, len(last)) if len(last) > self._max else last)
        self._buffer.clear()
        self._counted, self._discard, self._dropping_line = None, 0, False
        return frames

    def _step(self) -> bytes | Refused | None:
        """One step: a frame or refusal, ``b""`` for progress without one, ``None`` when more bytes are needed."""
        buffer = self._buffer
        if self._discard:
            dropped = min(self._discard, len(buffer))
            del buffer[:dropped]
            self._discard -= dropped
            return None if self._discard else b""
        if self._dropping_line:
            end = _delimiter(buffer, len(buffer))
            if end < 0:
                buffer.clear()
                return None
            del buffer[: end + 1]
            self._dropping_line = False
            return b""
        if self._counted is not None:
            return self._counted_frame()
        start = 0
        while start < len(buffer) and buffer[start] in _BETWEEN_FRAMES:
            start += 1
        del buffer[:start]
        if not buffer:
            return None
        if buffer[:1].isdigit():
            header = _count_header(buffer)
            if header is None:
                return None
            if header:
                return self._start_counted(*header)
        return self._line_frame()

    def _start_counted(self, length: int, header_size: int) -> Refused | bytes:
        del self._buffer[:header_size]
        if length > self._max:
            self._discard = length
            return _too_long(self._max, length)
        self._counted = length
        return b""

    def _counted_frame(self) -> bytes | None:
        length = self._counted or 0
        if len(self._buffer) < length:
            return None
        frame = bytes(self._buffer[:length])
        del self._buffer[:length]
        self._counted = None
        return frame

    def _line_frame(self) -> bytes | Refused | None:
        buffer = self._buffer
        end = _delimiter(buffer, self._max + 2)  # the frame, a CR, and its LF or NUL
        if end < 0:
            if len(buffer) <= self._max + 1:
                return None
            end = _delimiter(buffer, len(buffer))
            if end >= 0:
                del buffer[: end + 1]
                return _too_long(self._max, end)
            size = len(buffer)
            buffer.clear()
            self._dropping_line = True
            return _too_long(self._max, size, more=True)
        frame = bytes(buffer[:end]).rstrip(b"\r")
        del buffer[: end + 1]
        return _too_long(self._max, len(frame)) if len(frame) > self._max else frame


def _delimiter(buffer: bytearray, within: int) -> int:
    """Where the first LF or NUL in the first ``within`` bytes is, or -1: one bounded pass per frame."""
    found = _DELIMITER.search(buffer, 0, within)
    return found.start() if found else -1


def _count_header(buffer: bytearray) -> tuple[int, int] | tuple[()] | None:
    """``(length, header size)`` of an octet count, ``()`` if the frame is not counted, ``None`` if undecided yet."""
    digits = 0
    while digits < len(buffer) and digits <= _MAX_COUNT_DIGITS and buffer[digits : digits + 1].isdigit():
        digits += 1
    if digits == len(buffer) and digits <= _MAX_COUNT_DIGITS:
        return None
    if digits > _MAX_COUNT_DIGITS or buffer[digits : digits + 1] != b" ":
        return ()
    length = int(buffer[:digits])
    return (length, digits + 1) if length > 0 else ()


def _too_long(limit: int, size: int, *, more: bool = False) -> Refused:
    what = f"more than {limit}" if more else str(size)
    return Refused("frame", "max_bytes", f"a syslog frame is at most {limit} bytes; this one has {what}")
