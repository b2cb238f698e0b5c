"""/openapi.json describes exactly the routes the worker serves (every method a view answers has a row in the
route table), and is valid OpenAPI 3."""

from __future__ import annotations

from openapi_spec_validator import validate

from app.app import app
from app.web.openapi import build_openapi
from app.web.routes import ROUTES


def served_routes() -> set[tuple[str, str]]:
    web_app = app.web.web_app  # type: ignore[attr-defined]
    return {
        (route.method.lower(), route.resource.canonical)
        for route in web_app.router.routes()
        if route.method != "HEAD" and type(route.resource).__name__ != "StaticResource"
    }


def test_every_served_route_is_documented_and_nothing_else() -> None:
    documented = {(method, path) for path, ops in build_openapi(ROUTES)["paths"].items() for method in ops}
    assert served_routes() - documented == set(), "served but not in /openapi.json"
    assert documented - served_routes() == set(), "in /openapi.json but not served"


def test_document_is_valid_openapi() -> None:
    validate(build_openapi(ROUTES))


def test_event_schema_comes_from_the_model() -> None:
    schemas = build_openapi(ROUTES)["components"]["schemas"]
    assert set(schemas["LogEvent"]["required"]) == {"message", "source"}
    assert "errors" in schemas["ErrorOut"]["properties"]
