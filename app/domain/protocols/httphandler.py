"""Python's ``logging.handlers.HTTPHandler``, as it really posts.

``HTTPHandler.emit`` (CPython 3.11) sends ``urllib.parse.urlencode(
self.mapLogRecord(record))`` and ``mapLogRecord`` returns
``record.__dict__``: every attribute of the ``LogRecord`` as ``str()`` of
its value, form-encoded, with ``Content-type: application/x-www-form-
urlencoded`` on a POST (a GET puts the same string in the query, which this
decoder reads just as well). So ``args`` arrives as the text of a tuple or
dict, ``None`` as ``"None"``, ``created`` as the text of a float, and any
``extra=`` the caller passed as one more key.

The handler never formats the record, so ``exc_text`` holds a traceback
only when a handler before it did (a ``StreamHandler`` with the default
formatter fills it); otherwise only ``exc_info``'s useless ``repr`` comes.

Mapping: the message is ``message`` if a formatter already set it (it is
exactly ``getMessage()``), else ``msg % args`` the way ``getMessage`` does,
``args`` read back with :func:`ast.literal_eval` only; when that fails, or
the format asks for an unreasonable width, the message stays unformatted
and the raw ``args`` go to ``metadata.args``. ``exc_text`` and
``stack_info`` are appended as a formatter would, and their last 4 KiB kept
in metadata. ``levelname`` is the level (by ``levelno`` for custom names),
``name`` the source, ``created`` the timestamp. Of the rest, ``module``,
``funcName``, ``lineno``, ``pathname``, ``process``, ``processName``,
``thread``, ``threadName``, ``taskName`` and every ``extra=`` key go to
metadata; the bookkeeping (``msecs``, ``relativeCreated``, ``exc_info``,
...) is dropped.
"""

from __future__ import annotations

import ast
import re
import urllib.parse
from datetime import UTC, datetime
from typing import Any, Final

from app.domain.protocols import Item, Refused
from app.domain.protocols.limits import clean_text, refusal, usable_source
from app.errors import BadBody

FORM_TYPE: Final = "application/x-www-form-urlencoded"
KEPT: Final = ("module", "funcName", "lineno", "pathname", "process", "processName", "thread", "threadName", "taskName")
"""The ``LogRecord`` attributes kept in metadata (numbers as numbers)."""

_USED: Final = frozenset(
    {"name", "msg", "args", "levelname", "levelno", "created", "message", "exc_text", "stack_info"}
)
_DROPPED: Final = frozenset({"filename", "exc_info", "msecs", "relativeCreated", "asctime"})
_MAX_FIELDS: Final = 1000
_MAX_ARGS_CHARS: Final = 16 * 1024
_MAX_WIDTH: Final = 1000
_TRACE_KEPT_CHARS: Final = 4096
# A %-format conversion, with its width and precision, as printf-style formatting reads it.
_CONVERSION: Final = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?.")


def is_form_record(content_type: str, body: bytes) -> bool:
    """Whether a body is an ``HTTPHandler`` record, not JSON: a form content type, or ``msg=`` and ``levelname=``.

    A body opening with ``{`` or ``[`` is JSON whatever its type says: ``curl -d`` labels JSON a form, and a
    real form encodes those characters (``%7B``).
    """
    start = body.lstrip()[:1]
    if start in (b"{", b"["):
        return False
    if content_type.split(";")[0].strip().lower() == FORM_TYPE:
        return True
    if not start:
        return False
    keys = {pair.split(b"=", 1)[0] for pair in body.split(b"&", _MAX_FIELDS)[:_MAX_FIELDS]}
    return b"msg" in keys and b"levelname" in keys


def decode_form_record(body: bytes, *, received_at: datetime) -> Item:
    """One ``HTTPHandler`` record as an event, or why not; raises :class:`BadBody` if the body is no form."""
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="replace",
            max_num_fields=_MAX_FIELDS,
        )
    except ValueError as exc:
        raise BadBody("invalid_form", f"the body is not a form-encoded log record: {exc}") from None
    record = {key: value for key, value in pairs if value != "None"}
    if "msg" not in record:
        return Refused("message", "required", "the form has no msg field, so it is no LogRecord")
    name = record.get("name", "")
    if not usable_source(name):
        return Refused("source", "required", "the record's name must be 1-255 printable characters")
    metadata = _metadata(record)
    event: dict[str, Any] = {
        "message": clean_text(_message(record, metadata)),
        "level": _level(record, metadata),
        "source": name,
        "timestamp": _timestamp(record, metadata, received_at),
        "metadata": metadata,
    }
    return refusal(event) or event


def _message(record: dict[str, str], metadata: dict[str, Any]) -> str:
    """``getMessage()``'s result, then the traceback and stack a formatter would append."""
    text = record.get("message") or _formatted(record["msg"], record.get("args"), metadata)
    for key in ("exc_text", "stack_info"):
        extra = record.get(key)
        if extra:
            text = f"{text}\n{extra}" if not text.endswith("\n") else text + extra
            metadata[key] = extra[-_TRACE_KEPT_CHARS:]
    return text


def _formatted(msg: str, raw_args: str | None, metadata: dict[str, Any]) -> str:
    if not raw_args or raw_args in ("()", "{}"):
        return msg
    args = _literal(raw_args)
    if args is None or not _reasonable(msg):
        metadata["args"] = raw_args
        return msg
    try:
        return str(msg % args)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, MemoryError):
        metadata["args"] = raw_args
        return msg


def _literal(raw_args: str) -> Any:
    """The args the text came from, or ``None``: literals only, never code, and bounded."""
    if len(raw_args) > _MAX_ARGS_CHARS:
        return None
    try:
        return ast.literal_eval(raw_args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _reasonable(msg: str) -> bool:
    """No ``*`` width and no width or precision over 1000, so a hostile format cannot allocate gigabytes."""
    for width, precision in _CONVERSION.findall(msg):
        for part in (width, precision):
            if part == "*" or (part and int(part) > _MAX_WIDTH):
                return False
    return True


def _level(record: dict[str, str], metadata: dict[str, Any]) -> str:
    name = record.get("levelname", "").upper()
    if name in ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"):
        return name
    if name:
        metadata["levelname"] = record["levelname"]
    number = _number(record.get("levelno"))
    if not isinstance(number, int):
        return "INFO"
    thresholds = ((10, "TRACE"), (20, "DEBUG"), (30, "INFO"), (40, "WARN"), (50, "ERROR"))
    return next((level for limit, level in thresholds if number < limit), "FATAL")


def _timestamp(record: dict[str, str], metadata: dict[str, Any], received_at: datetime) -> str:
    created = record.get("created")
    try:
        return datetime.fromtimestamp(float(created or ""), UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        if created:
            metadata["created"] = created
        return (received_at if received_at.tzinfo else received_at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _metadata(record: dict[str, str]) -> dict[str, Any]:
    return {
        key: _number(value) if key in KEPT else value
        for key, value in record.items()
        if key not in _USED and key not in _DROPPED
    }


def _number(value: str | None) -> int | str | None:
    """An integer attribute back as a number (``lineno``, ``process``, ``thread``), else as it came."""
    digits = (value or "").removeprefix("-")
    if value is not None and digits.isascii() and digits.isdigit() and len(digits) <= 18:
        return int(value)
    return value
