"""``GET /openapi.json`` and ``GET /docs``: the API described from its models.

Schemas come from the pydantic models (:mod:`app.models`,
:mod:`app.web.schemas`); :data:`OPERATIONS` says which route takes and
answers what, and a test fails when it and the routes the worker really
serves differ. ``/docs`` is Swagger UI from the ``swagger-ui-bundle``
package, served by the worker (no CDN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from faust import web
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

import app as package
from app.app import app
from app.models import LogEvent
from app.query import SORTS
from app.web.auth import required_role
from app.web.schemas import (
    Accepted,
    BatchAccepted,
    ContextOut,
    DeadLetterPage,
    ErrorOut,
    EventOut,
    HistogramOut,
    LogPage,
    ReadyOut,
    ReplayOut,
    ReplayRequest,
    StatsOut,
    StatusOut,
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
    body: str | None = None  # "event" | "batch" | "replay"
    produces: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)
    cached: bool = False  # a read from PostgreSQL through the cache: may answer stale while it is away


_FILTERS: Final = (
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
)
_NOT_TAIL: Final = {"limit", "size", "cursor", "page", "start", "startTime", "end", "endTime", "sort"}
_HOURS_BACK: Final = (
    Param("hoursBack", "Add counts by event time for the last N hours.", "integer", minimum=1, maximum=24 * 365),
)
_INGEST_ONE: Final[Responses] = {
    202: Accepted,
    400: ErrorOut,
    413: ErrorOut,
    422: ErrorOut,
    503: ErrorOut,
}
_INGEST_BATCH: Final[Responses] = {**_INGEST_ONE, 202: BatchAccepted}
_QUERY: Final[Responses] = {200: LogPage, 400: ErrorOut, 503: ErrorOut}
_ONE_EVENT: Final[Responses] = {200: EventOut, 404: ErrorOut, 503: ErrorOut}
_CONTEXT: Final[Responses] = {200: ContextOut, 400: ErrorOut, 404: ErrorOut, 503: ErrorOut}
_STATS: Final[Responses] = {200: StatsOut, 400: ErrorOut, 503: ErrorOut}

OPERATIONS: Final = (
    Operation("post", "/api/v1/logs", "Ingest one event", "ingest", _INGEST_ONE, body="event"),
    Operation("post", "/api/logs", "Ingest one event (Java route)", "ingest", _INGEST_ONE, body="event"),
    Operation(
        "post", "/producer/api/logs/ingest", "Ingest one event (Java route)", "ingest", _INGEST_ONE, body="event"
    ),
    Operation("post", "/api/v1/logs/batch", "Ingest a JSON array or NDJSON", "ingest", _INGEST_BATCH, body="batch"),
    Operation("post", "/producer/api/logs/batch", "Ingest a batch (Java route)", "ingest", _INGEST_BATCH, body="batch"),
    Operation("get", "/api/v1/logs", "Query and search logs", "query", _QUERY, _FILTERS, cached=True),
    Operation(
        "get",
        "/gateway/api/query/logs",
        "Query logs, Spring pages (Java route)",
        "query",
        _QUERY,
        _FILTERS,
        cached=True,
    ),
    Operation(
        "get",
        "/gateway/api/query/search",
        "Search logs, Spring pages (Java route)",
        "query",
        _QUERY,
        _FILTERS,
        cached=True,
    ),
    Operation(
        "get",
        "/api/v1/logs/{event_id}",
        "One event by id",
        "query",
        _ONE_EVENT,
        (Param("event_id", "The event's UUID.", where="path"),),
        cached=True,
    ),
    Operation(
        "get",
        "/api/v1/logs/histogram",
        "Counts per time bucket and level of the events the filters match",
        "query",
        {200: HistogramOut, 400: ErrorOut, 503: ErrorOut},
        (
            *(p for p in _FILTERS if p.name not in ("limit", "size", "cursor", "page", "sort")),
            Param(
                "interval",
                "auto (about 60 buckets over the range; the default) or 30s, 5m, 1h, 1d; at most 2000 buckets.",
            ),
        ),
        cached=True,
    ),
    Operation(
        "get",
        "/api/v1/logs/{event_id}/context",
        "The events around one: same source and organization, in time order",
        "query",
        _CONTEXT,
        (
            Param("event_id", "The event's UUID.", where="path"),
            Param("before", "Older events, 0-500, default 10.", "integer", minimum=0, maximum=500),
            Param("after", "Newer events, 0-500, default 10.", "integer", minimum=0, maximum=500),
        ),
        cached=True,
    ),
    Operation(
        "get",
        "/api/v1/logs/tail",
        "Follow new events (Server-Sent Events)",
        "query",
        {200: None, 400: ErrorOut},
        tuple(
            p
            for p in _FILTERS
            if p.name not in ("limit", "size", "cursor", "page", "start", "startTime", "end", "endTime")
        ),
        produces="text/event-stream",
    ),
    Operation("get", "/api/v1/stats", "Live counts", "stats", _STATS, _HOURS_BACK, cached=True),
    Operation("get", "/api/v1/logs/stats", "Live counts (Java route)", "stats", _STATS, _HOURS_BACK, cached=True),
    Operation("get", "/gateway/api/query/stats", "Live counts (Java route)", "stats", _STATS, _HOURS_BACK, cached=True),
    Operation(
        "get",
        "/api/v1/dlq",
        "List dead letters",
        "dead letters",
        {200: DeadLetterPage, 400: ErrorOut, 503: ErrorOut},
        (
            Param("reason", "too_large, bad_utf8, not_json, not_object, invalid, rejected_by_database."),
            Param("since", "Failed at or after (ISO 8601)."),
            Param("until", "Failed at or before (ISO 8601)."),
            Param("limit", "1-500, default 50.", "integer", minimum=1, maximum=500),
            Param("cursor", "From `next_cursor`."),
        ),
    ),
    Operation(
        "post",
        "/api/v1/dlq/replay",
        "Replay dead letters to logs.raw, optionally patched",
        "dead letters",
        {200: ReplayOut, 400: ErrorOut, 503: ErrorOut},
        body="replay",
    ),
    Operation("get", "/health", "Liveness", "health", {200: StatusOut}),
    Operation("get", "/actuator/health", "Liveness (Java route)", "health", {200: StatusOut}),
    Operation("get", "/producer/api/logs/health", "Liveness (Java route)", "health", {200: StatusOut}),
    Operation("get", "/gateway/api/query/health", "Liveness (Java route)", "health", {200: StatusOut}),
    Operation("get", "/ready", "Readiness of broker, PostgreSQL, Redis", "health", {200: ReadyOut, 503: ReadyOut}),
    Operation("get", "/metrics", "Prometheus metrics", "metrics", {200: None}, produces="text/plain"),
    Operation(
        "get", "/actuator/prometheus", "Prometheus metrics (Java route)", "metrics", {200: None}, produces="text/plain"
    ),
    Operation("get", "/openapi.json", "This description", "docs", {200: None}),
    Operation("get", "/docs", "Swagger UI", "docs", {200: None}, produces="text/html"),
    Operation("get", "/", "Web console: search, live tail, counts", "console", {200: None}, produces="text/html"),
    Operation("get", "/ui/", "Web console", "console", {200: None}, produces="text/html"),
)


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route the worker serves."""
    schemas: dict[str, Any] = {}
    event_ref = _schema_ref(LogEvent, schemas)
    bodies = {
        "event": {"required": True, "content": {"application/json": {"schema": event_ref}}},
        "batch": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": event_ref}},
                "application/x-ndjson": {"schema": {"type": "string", "description": "One event per line."}},
            },
        },
    }
    bodies["replay"] = {
        "required": True,
        "content": {"application/json": {"schema": _schema_ref(ReplayRequest, schemas)}},
    }
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        responses: dict[str, Any] = {}
        role = required_role(op.method.upper(), op.path)
        # A route that needs a role is also rate limited: 401, 403 and 429 come together.
        guarded = {401: ErrorOut, 403: ErrorOut, 429: ErrorOut} if role is not None else {}
        for status, model in sorted({**op.responses, **guarded}.items()):
            content_type = "application/json" if status >= 300 else op.produces
            schema = _schema_ref(model, schemas) if model is not None else {}
            responses[str(status)] = {
                "description": _DESCRIPTIONS.get(status, ""),
                "content": {content_type: {"schema": schema}},
            }
            if status in (429, 503):
                responses[str(status)]["headers"] = {"Retry-After": _RETRY_AFTER}
        if op.cached:
            responses["200"]["headers"] = _STALE_HEADERS
            responses["200"]["description"] = _STALE_OK
            responses["503"]["description"] = _STALE_503
        operation: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": responses,
        }
        if role is not None:
            operation["security"] = [{"apiKey": []}, {"bearer": []}]
            operation["description"] = f"Needs an API key with the `{role}` role (or `admin`)."
        if op.params:
            operation["parameters"] = [_param(p) for p in op.params]
        if op.body:
            operation["requestBody"] = bodies[op.body]
        paths.setdefault(op.path, {})[op.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "logpipe",
            "version": package.__version__,
            "description": "Ingest, query, search and count structured log events. Errors are JSON: "
            "`code`, `message` naming the field and the rule, and `errors`. 400: the body or a parameter "
            "is not what the route takes; 422: valid JSON that breaks an event rule; 413: too large; "
            "503 + Retry-After: a dependency is unavailable. With auth on, send an API key as `X-API-Key` "
            "(or `Authorization: Bearer`): 401 without a valid one, 403 without the role; a key of one "
            "organization reads and writes only that organization's events.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _param(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    if p.minimum is not None:
        schema["minimum"] = p.minimum
    if p.maximum is not None:
        schema["maximum"] = p.maximum
    if p.enum is not None:
        schema["enum"] = list(p.enum)
    if p.repeatable:
        schema = {"type": "array", "items": {"type": p.type}}
    return {
        "name": p.name,
        "in": p.where,
        "required": p.where == "path",
        "description": p.description,
        "schema": schema,
    }


_DESCRIPTIONS: Final = {
    200: "OK",
    202: "Accepted: the broker has it",
    400: "Bad request",
    401: "No valid API key",
    403: "The API key may not do this, or not for this organization",
    404: "Not found",
    413: "Too large",
    422: "An event rule is broken",
    429: "Over the client's rate limit, or ingest shed while the pipeline catches up; retry after Retry-After",
    503: "A dependency is unavailable; retry after Retry-After seconds",
}

_RETRY_AFTER: Final = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
_STALE_HEADERS: Final = {
    "Age": {
        "description": "Only on a stale answer: seconds since it was made.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Warning": {
        "description": 'Only on a stale answer: `110 - "Response is Stale"`.',
        "schema": {"type": "string"},
    },
}
_STALE_OK: Final = (
    "OK. While PostgreSQL is unavailable (its circuit breaker open) the last cached answer to the same request, "
    "at most CACHE_STALE_MAX old and never another organization's, is served with the body unchanged and "
    '`Age` and `Warning: 110 - "Response is Stale"` headers. (Live counts without `hoursBack` come from the '
    "count table and are always current.)"
)
_STALE_503: Final = (
    "`database_unavailable`: PostgreSQL is unavailable and no cached answer to this request is held; answered at "
    "once, without waiting on the database; retry after Retry-After seconds"
)

_SWAGGER_DIR: Final = Path(swagger_ui_path)
_DOCS_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>logpipe API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""


@app.page("/openapi.json")
class OpenApi(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.json(build_openapi())


@app.page("/docs")
class Docs(web.View):
    async def get(self, request: web.Request) -> web.Response:
        return self.html(_DOCS_PAGE)


app.web.add_static("/docs/static/", _SWAGGER_DIR)
