"""The Prometheus label string Loki's protobuf push carries: ``{job="api", path="C:\\\\logs"}``.

Clients write it with Go's ``strconv.Quote``, so values are Go
double-quoted strings: the escapes here are Go's one-letter ones
(``\\\\ \\" \\n \\t \\r \\a \\b \\f \\v``), ``\\xNN`` for ASCII and
``\\uNNNN``/``\\UNNNNNNNN``. The parser is strict, as Loki's is: a label
set that cannot be read names the streams nobody can tell apart, so the
whole body is refused rather than guessed at.
"""

from __future__ import annotations

import re
from typing import Final

from app.errors import BadBody

_OPEN: Final = re.compile(r"\s*\{\s*")
_CLOSE: Final = re.compile(r"\s*\}\s*\Z")
_PAIR: Final = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(,|\})')
_ESCAPE: Final = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)
_SIMPLE: Final = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def parse_labels(text: str) -> dict[str, str]:
    """The label set ``{name="value", ...}`` as a dict, in the order written.

    Raises :class:`BadBody` (``invalid_labels``) on bad syntax, a bad escape
    or a repeated name.
    """
    opening = _OPEN.match(text)
    if opening is None:
        raise _invalid(text, "it must start with {")
    labels: dict[str, str] = {}
    pos = opening.end()
    while not _CLOSE.match(text, pos):
        pair = _PAIR.match(text, pos)
        if pair is None:
            raise _invalid(text, f'expected name="value" at character {pos}')
        name, quoted, separator = pair.groups()
        if name in labels:
            raise _invalid(text, f"the label {name} is repeated")
        labels[name] = _ESCAPE.sub(lambda escape: _unescape(text, escape), quoted)
        pos = pair.end()
        if separator == "}":
            if not _CLOSE.match(text, pos - 1):
                raise _invalid(text, f"unexpected text after }} at character {pos}")
            break
    return labels


def _unescape(text: str, escape: re.Match[str]) -> str:
    hex_byte, short, long, simple = escape.groups()
    if simple is not None:
        if simple not in _SIMPLE:
            raise _invalid(text, f"\\{simple} is not an escape")
        return _SIMPLE[simple]
    code = int(hex_byte or short or long, 16)
    if (hex_byte and code > 0x7F) or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
        raise _invalid(text, f"{escape.group()} is not a character this parser reads")
    return chr(code)


def _invalid(text: str, reason: str) -> BadBody:
    return BadBody("invalid_labels", f"stream labels {text[:80]!r} are not a label set: {reason}")
