"""Worker logs: one JSON object per line for machines, or Faust's coloured text for people.

``LOG_FORMAT=json`` (the default, what log shippers want) gives ``ts``,
``level``, ``logger``, ``message``, ``trace_id`` when a trace is active, and
``exc_info`` for errors. ``make run`` sets ``LOG_FORMAT=text``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", None) or current_trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def current_trace_id() -> str | None:
    """The active OpenTelemetry trace id, when tracing is installed and a span is recording."""
    try:
        from opentelemetry.trace.propagation import get_current_span
    except ImportError:
        return None
    context = get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def logging_config(log_format: str, level: str) -> dict[str, Any] | None:
    """A ``logging.config.dictConfig`` for Faust's worker, or ``None`` for Faust's own text logs."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"level": level.upper(), "handlers": ["default"]},
    }
