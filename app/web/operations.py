"""How an API operation is described: its parameters, body and answers (the route table's documentation half).

:mod:`app.web.routes` gives each route one :class:`Operation`;
:mod:`app.web.openapi` turns them into ``/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from faust import web
from pydantic import BaseModel

from app.domain.keys import Role
from app.domain.query import SORTS
from app.web.schemas import (
    Accepted,
    BatchAccepted,
    ContextOut,
    ErrorOut,
    EventOut,
    LogPage,
    StatsOut,
)

Responses = dict[int, type[BaseModel] | None]


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    type: str = "string"
    repeatable: bool = False
    where: str = "query"
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    responses: Responses
    params: tuple[Param, ...] = ()
    body: str | None = None  # a key of app.web.openapi's request bodies: "event", "batch", "otlp", ...
    produces: str | tuple[str, ...] = "application/json"
    errors_produce: tuple[str, ...] = ("application/json",)
    extra: dict[str, Any] = field(default_factory=dict)
    cached: bool = False  # a read from PostgreSQL through the cache: may answer stale while it is away
    description: str = ""  # more than the summary says, after who may call it


FILTERS: Final = (
    Param("level", "Level; repeatable or comma-separated (alias `logLevel`).", repeatable=True),
    Param("logLevel", "Alias of `level`.", repeatable=True),
    Param("source", "Exact source."),
    Param("organization_id", "Exact organization (alias `organizationId`)."),
    Param("organizationId", "Alias of `organization_id`."),
    Param("start", "From this ISO 8601 time; no zone means UTC (alias `startTime`)."),
    Param("startTime", "Alias of `start`."),
    Param("end", "Up to this ISO 8601 time (alias `endTime`)."),
    Param("endTime", "Alias of `end`."),
    Param("q", "PostgreSQL full-text search (websearch syntax), results newest first (aliases `keyword`, `query`)."),
    Param("keyword", "Alias of `q`."),
    Param("query", "Alias of `q`."),
    Param(
        "sort",
        "`newest` (default) or `relevance`: with `q`, rank by full-text relevance first (scores every match).",
        enum=SORTS,
    ),
    Param("limit", "Page size, 1-1000 (alias `size`).", "integer", minimum=1, maximum=1000),
    Param("size", "Alias of `limit`.", "integer", minimum=1, maximum=1000),
    Param("cursor", "Opaque keyset cursor from `next_cursor`."),
    Param("page", "Offset paging, from 0 (the Java system's); adds totals.", "integer", minimum=0),
    # OpenAPI cannot name a pattern of parameters: field.{key} is told in FIELDS_NOTE, one example is listed.
    Param(
        "field.status",
        "Example of `field.{key}`: events whose field `status` is one of these values (see the description).",
        repeatable=True,
    ),
)
FIELDS_NOTE: Final = (
    "`field.{key}=value` (any key: dot-separated parts of letters, digits, `_` and `-`) keeps the events whose "
    "field `key` equals the value: a field extracted from a JSON or logfmt message (`metadata.fields`), or a key of "
    "the event's own metadata, dotted keys also nested (`field.user.id=u1`). `a,b` means any of them (`\\,` is a "
    "comma); different keys must all match; up to 10 keys and 20 values each. A value matches the text and, when "
    'it is a JSON number, `true`, `false` or `null`, that value too (`field.status=500` finds `"500"` and `500`).'
)
EXPORT_NOTE: Final = (
    "Every match, newest first, streamed (no page limit); paging parameters are not taken. NDJSON: one event a "
    "line, as the query answers it; CSV (RFC 4180, UTF-8): timestamp, level, source, organization_id, trace_id, "
    "id, message, metadata (JSON), a leading `'` before a cell a spreadsheet would read as a formula. An export "
    "that fails once begun ends without the chunked body's end: treat an incomplete body as a failed export."
)
NOT_TAIL: Final = {"limit", "size", "cursor", "page", "start", "startTime", "end", "endTime", "sort"}
HOURS_BACK: Final = (
    Param("hoursBack", "Add counts by event time for the last N hours.", "integer", minimum=1, maximum=24 * 365),
)
INGEST_ONE: Final[Responses] = {
    202: Accepted,
    400: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}
INGEST_BATCH: Final[Responses] = {**INGEST_ONE, 202: BatchAccepted}
QUERY: Final[Responses] = {200: LogPage, 400: ErrorOut, 503: ErrorOut}
ONE_EVENT: Final[Responses] = {200: EventOut, 404: ErrorOut, 503: ErrorOut}
CONTEXT: Final[Responses] = {200: ContextOut, 400: ErrorOut, 404: ErrorOut, 503: ErrorOut}
STATS: Final[Responses] = {200: StatsOut, 400: ErrorOut, 503: ErrorOut}


@dataclass(frozen=True)
class Route:
    """One method on one path: the view that answers it, the role it needs (``None``: open), its description,
    and the aiohttp pattern where the path has a typed parameter."""

    view: type[web.View]
    role: Role | None
    op: Operation
    pattern: str | None = None
