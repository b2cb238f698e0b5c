"""The route table: one row per method and path, driving registration, the role it needs, and its OpenAPI entry.

A route is declared here once. :func:`register` puts every row's view on
the app, :func:`role_for` answers the access middleware, and
:mod:`app.web.openapi` describes the same rows, so the three cannot
disagree.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any, Final

from faust import web

from app.domain.export import FORMATS
from app.domain.keys import Role
from app.web import console_views, health_views, letter_views, metrics_views, stats_views
from app.web.export_views import LogExport
from app.web.ingest_views import IngestBatch, IngestOne
from app.web.openapi import DOCS_PAGE, SWAGGER_DIR, build_openapi
from app.web.operations import (
    CONTEXT,
    EXPORT_NOTE,
    FIELDS_NOTE,
    FILTERS,
    HOURS_BACK,
    INGEST_BATCH,
    INGEST_ONE,
    NOT_TAIL,
    ONE_EVENT,
    QUERY,
    STATS,
    Operation,
    Param,
    Responses,
    Route,
)
from app.web.query_views import EVENT_ID, JavaQuery, LogContext, LogHistogram, Logs, OneLog
from app.web.schemas import DeadLetterPage, ErrorOut, HistogramOut, ReadyOut, ReplayOut, StatusOut
from app.web.shipper_routes import SHIPPER_ROUTES
from app.web.tail_views import Tail

if TYPE_CHECKING:
    from app.app import LogpipeApp


class OpenApi(web.View):
    """``GET /openapi.json``: this table, described."""

    async def get(self, request: web.Request) -> web.Response:
        return self.json(build_openapi(ROUTES))


class Docs(web.View):
    """``GET /docs``: Swagger UI over ``/openapi.json``."""

    async def get(self, request: web.Request) -> web.Response:
        return self.html(DOCS_PAGE)


_EVENT: Final = (Param("event_id", "The event's UUID.", where="path"),)
_PAGE: Final = ("limit", "size", "cursor", "page", "sort")
_MATCHING: Final = tuple(p for p in FILTERS if p.name not in _PAGE)
_HISTOGRAM: Final = (
    *_MATCHING,
    Param("interval", "auto (about 60 buckets over the range; the default) or 30s, 5m, 1h, 1d; at most 2000 buckets."),
)
_EXPORT: Final = (*_MATCHING, Param("format", "`ndjson` (the default) or `csv`.", enum=("ndjson", "csv")))
_AROUND: Final = (
    *_EVENT,
    Param("before", "Older events, 0-500, default 10.", "integer", minimum=0, maximum=500),
    Param("after", "Newer events, 0-500, default 10.", "integer", minimum=0, maximum=500),
)
_LETTERS: Final = (
    Param("reason", "too_large, bad_utf8, not_json, not_object, invalid, rejected_by_database."),
    Param("since", "Failed at or after (ISO 8601)."),
    Param("until", "Failed at or before (ISO 8601)."),
    Param("limit", "1-500, default 50.", "integer", minimum=1, maximum=500),
    Param("cursor", "From `next_cursor`."),
)


def _ingest(view: type[web.View], path: str, summary: str, responses: object, body: str) -> Route:
    return Route(view, "ingest", Operation("post", path, summary, "ingest", responses, body=body))  # type: ignore[arg-type]


def _search(view: type[web.View], path: str, summary: str, responses: Responses, **op: Any) -> Route:
    """A read of events by the query's filters (``field.{key}`` told in the description)."""
    pattern = op.pop("pattern", None)
    op.setdefault("description", FIELDS_NOTE)
    return Route(view, "query", Operation("get", path, summary, "query", responses, **op), pattern)


ROUTES: Final[tuple[Route, ...]] = (
    *SHIPPER_ROUTES,
    _ingest(Logs, "/api/v1/logs", "Ingest one event", INGEST_ONE, "event"),
    _ingest(IngestOne, "/api/logs", "Ingest one event (Java route)", INGEST_ONE, "event"),
    _ingest(IngestOne, "/producer/api/logs/ingest", "Ingest one event (Java route)", INGEST_ONE, "event"),
    _ingest(IngestBatch, "/api/v1/logs/batch", "Ingest a JSON array or NDJSON", INGEST_BATCH, "batch"),
    _ingest(IngestBatch, "/producer/api/logs/batch", "Ingest a batch (Java route)", INGEST_BATCH, "batch"),
    _search(Logs, "/api/v1/logs", "Query and search logs", QUERY, params=FILTERS, cached=True),
    _search(
        JavaQuery,
        "/gateway/api/query/logs",
        "Query logs, Spring pages (Java route)",
        QUERY,
        params=FILTERS,
        cached=True,
    ),
    _search(
        JavaQuery,
        "/gateway/api/query/search",
        "Search logs, Spring pages (Java route)",
        QUERY,
        params=FILTERS,
        cached=True,
    ),
    Route(
        OneLog,
        "query",
        Operation("get", "/api/v1/logs/{event_id}", "One event by id", "query", ONE_EVENT, _EVENT, cached=True),
        f"/api/v1/logs/{EVENT_ID}",
    ),
    _search(
        LogHistogram,
        "/api/v1/logs/histogram",
        "Counts per time bucket and level of the events the filters match",
        {200: HistogramOut, 400: ErrorOut, 503: ErrorOut},
        params=_HISTOGRAM,
        cached=True,
    ),
    _search(
        LogExport,
        "/api/v1/logs/export",
        "Export every event the filters match, newest first, as NDJSON or CSV",
        {200: None, 400: ErrorOut, 503: ErrorOut},
        params=_EXPORT,
        produces=tuple(media.partition(";")[0] for media in FORMATS.values()),
        description=f"{EXPORT_NOTE} {FIELDS_NOTE}",
    ),
    _search(
        LogContext,
        "/api/v1/logs/{event_id}/context",
        "The events around one: same source and organization, in time order",
        CONTEXT,
        params=_AROUND,
        cached=True,
        pattern=f"/api/v1/logs/{EVENT_ID}/context",
        description="",
    ),
    _search(
        Tail,
        "/api/v1/logs/tail",
        "Follow new events (Server-Sent Events)",
        {200: None, 400: ErrorOut},
        params=tuple(p for p in FILTERS if p.name not in NOT_TAIL),
        produces="text/event-stream",
    ),
    Route(
        stats_views.Stats,
        "query",
        Operation("get", "/api/v1/stats", "Live counts", "stats", STATS, HOURS_BACK, cached=True),
    ),
    Route(
        stats_views.Stats,
        "query",
        Operation("get", "/api/v1/logs/stats", "Live counts (Java route)", "stats", STATS, HOURS_BACK, cached=True),
    ),
    Route(
        stats_views.Stats,
        "query",
        Operation(
            "get", "/gateway/api/query/stats", "Live counts (Java route)", "stats", STATS, HOURS_BACK, cached=True
        ),
    ),
    Route(
        letter_views.DeadLetters,
        "admin",
        Operation(
            "get",
            "/api/v1/dlq",
            "List dead letters",
            "dead letters",
            {200: DeadLetterPage, 400: ErrorOut, 503: ErrorOut},
            _LETTERS,
        ),
    ),
    Route(
        letter_views.Replay,
        "admin",
        Operation(
            "post",
            "/api/v1/dlq/replay",
            "Replay dead letters to logs.raw, optionally patched",
            "dead letters",
            {200: ReplayOut, 400: ErrorOut, 503: ErrorOut},
            body="replay",
        ),
    ),
    Route(health_views.Health, None, Operation("get", "/health", "Liveness", "health", {200: StatusOut})),
    Route(
        health_views.Health,
        None,
        Operation("get", "/actuator/health", "Liveness (Java route)", "health", {200: StatusOut}),
    ),
    Route(
        health_views.ServiceHealth,
        None,
        Operation("get", "/producer/api/logs/health", "Liveness (Java route)", "health", {200: StatusOut}),
    ),
    Route(
        health_views.ServiceHealth,
        None,
        Operation("get", "/gateway/api/query/health", "Liveness (Java route)", "health", {200: StatusOut}),
    ),
    Route(
        health_views.Ready,
        None,
        Operation("get", "/ready", "Readiness of broker, PostgreSQL, Redis", "health", {200: ReadyOut, 503: ReadyOut}),
    ),
    Route(
        metrics_views.Metrics,
        None,
        Operation("get", "/metrics", "Prometheus metrics", "metrics", {200: None}, produces="text/plain"),
    ),
    Route(
        metrics_views.Metrics,
        None,
        Operation(
            "get",
            "/actuator/prometheus",
            "Prometheus metrics (Java route)",
            "metrics",
            {200: None},
            produces="text/plain",
        ),
    ),
    Route(OpenApi, None, Operation("get", "/openapi.json", "This description", "docs", {200: None})),
    Route(Docs, None, Operation("get", "/docs", "Swagger UI", "docs", {200: None}, produces="text/html")),
    Route(
        console_views.Console,
        None,
        Operation(
            "get",
            "/",
            "Web console (HTML); Elasticsearch's version document for clients that do not ask for HTML",
            "console",
            {200: None},
            produces=("text/html", "application/json"),
        ),
    ),
    Route(
        console_views.Console,
        None,
        Operation("get", "/ui/", "Web console", "console", {200: None}, produces="text/html"),
    ),
)

_ROLES: Final = {(r.op.method.upper(), r.op.path): r.role for r in ROUTES}
_OPEN_PREFIXES: Final = ("/ui/static/", "/docs/static/")


def role_for(method: str, template: str) -> Role | None:
    """The role a request needs, by method and route template; anything under ``/api/`` that the table does
    not name needs ``query`` (refused, not opened, should a route ever be served without a row)."""
    if method == "OPTIONS" or template.startswith(_OPEN_PREFIXES):
        return None
    if (method, template) in _ROLES:
        return _ROLES[(method, template)]
    if method == "HEAD" and ("GET", template) in _ROLES:
        return _ROLES[("GET", template)]
    if template.startswith(("/api/", "/gateway/api/", "/producer/api/")):
        return "query"
    return None


def register(app: LogpipeApp) -> None:
    """Put every route's view on ``app`` (one view per path), and the console's static files."""
    views: dict[str, type[web.View]] = {}
    methods: defaultdict[str, set[str]] = defaultdict(set)
    for route in ROUTES:
        pattern = route.pattern or route.op.path
        if views.setdefault(pattern, route.view) is not route.view:
            raise ValueError(f"{pattern}: one view per path, not {views[pattern].__name__} and {route.view.__name__}")
        methods[pattern].add(route.op.method)
    for pattern, view in views.items():
        bind = getattr(view, "bind", None)
        app.page(pattern)(bind(app) if bind is not None else view)
    app.web.add_static("/ui/static/", console_views.CONSOLE_DIR)
    app.web.add_static("/docs/static/", SWAGGER_DIR)
