"""The OpenAPI document of the route table: what each route takes and answers, and who may call it.

Schemas come from the pydantic models (:mod:`app.models`,
:mod:`app.web.schemas`); each route's :class:`~app.web.operations.Operation`
says which it takes and answers, and its role whether it needs a key.
``/docs`` is Swagger UI from the ``swagger-ui-bundle`` package, served by
the worker (no CDN).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

import app as package
from app.models import LogEvent
from app.web.operations import Param
from app.web.schemas import ErrorOut, ReplayRequest

if TYPE_CHECKING:
    from app.web.operations import Route


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas[name] = sub
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route the worker serves."""
    schemas: dict[str, Any] = {}
    bodies = _bodies(schemas)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.op.path, {})[route.op.method] = _operation(route, schemas, bodies)
    return {
        "openapi": "3.1.0",
        "info": {"title": "logpipe", "version": package.__version__, "description": _ABOUT},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _bodies(schemas: dict[str, Any]) -> dict[str, Any]:
    """The request bodies routes name in their :attr:`Operation.body`."""
    event_ref = _schema_ref(LogEvent, schemas)
    return {
        "event": {"required": True, "content": {"application/json": {"schema": event_ref}}},
        "batch": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": event_ref}},
                "application/x-ndjson": {"schema": {"type": "string", "description": "One event per line."}},
            },
        },
        "replay": {"required": True, "content": {"application/json": {"schema": _schema_ref(ReplayRequest, schemas)}}},
        "otlp": _raw_body(
            "An OTLP ExportLogsServiceRequest; gzip with Content-Encoding.",
            "application/x-protobuf",
            "application/json",
        ),
        "loki": _raw_body(
            "A Loki PushRequest: JSON, or protobuf in snappy's block format.",
            "application/json",
            "application/x-protobuf",
        ),
        "bulk": _raw_body("Elasticsearch bulk NDJSON: action and document lines.", "application/x-ndjson"),
    }


def _raw_body(description: str, *types: str) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary", "description": description}
    document = {"type": "object", "description": description}
    return {
        "required": True,
        "content": {t: {"schema": document if t == "application/json" else binary} for t in types},
    }


def _operation(route: Route, schemas: dict[str, Any], bodies: dict[str, Any]) -> dict[str, Any]:
    op, role = route.op, route.role
    operation: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
        "responses": _responses(route, schemas),
    }
    if role is not None:
        operation["security"] = [{"apiKey": []}, {"bearer": []}]
        operation["description"] = f"Needs an API key with the `{role}` role (or `admin`)."
    if op.description:
        operation["description"] = " ".join(filter(None, (operation.get("description"), op.description)))
    if op.params:
        operation["parameters"] = [_param(p) for p in op.params]
    if op.body:
        operation["requestBody"] = bodies[op.body]
    return operation


def _responses(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    op = route.op
    responses: dict[str, Any] = {}
    # A route that needs a role is also rate limited: 401, 403 and 429 come together.
    guarded = {401: ErrorOut, 403: ErrorOut, 429: ErrorOut} if route.role is not None else {}
    for status, model in sorted({**op.responses, **guarded}.items()):
        produced = op.errors_produce if status >= 300 else op.produces
        types = (produced,) if isinstance(produced, str) else produced
        schema = _schema_ref(model, schemas) if model is not None else {}
        content = {kind: {"schema": schema if kind == "application/json" else {}} for kind in types}
        responses[str(status)] = {"description": _DESCRIPTIONS.get(status, "")}
        if status != 204:  # No Content has none
            responses[str(status)]["content"] = content
        if status in (429, 503):
            responses[str(status)]["headers"] = {"Retry-After": _RETRY_AFTER}
    if op.cached:
        responses["200"]["headers"] = _STALE_HEADERS
        responses["200"]["description"] = _STALE_OK
        responses["503"]["description"] = _STALE_503
    return responses


_ABOUT: Final = (
    "Ingest, query, search and count structured log events. Errors are JSON: "
    "`code`, `message` naming the field and the rule, and `errors`. 400: the body or a parameter "
    "is not what the route takes; 422: valid JSON that breaks an event rule; 413: too large; "
    "503 + Retry-After: a dependency is unavailable. With auth on, send an API key as `X-API-Key` "
    "(or `Authorization: Bearer`): 401 without a valid one, 403 without the role; a key of one "
    "organization reads and writes only that organization's events."
)


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
    204: "Taken: the broker has every entry",
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

SWAGGER_DIR: Final = Path(swagger_ui_path)
DOCS_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>logpipe API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>
"""
