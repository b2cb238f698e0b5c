"""API key checks for every route, in one middleware.

Which role a route needs is the route table's (:mod:`app.web.routes`), looked
up here by route template and method for every request, so a view cannot
forget it: ``ingest`` for posting events, ``query`` for reading them
(query, search, one event, stats, tail), ``admin`` for dead letters;
health, readiness, metrics, the API description and the console's files
are open. The principal is left on
the request (:func:`principal_of`) for views that narrow what they read to
its organization. Missing or unknown key: 401; known key without the role:
403. With ``AUTH_ENABLED=false`` every request is :data:`app.domain.keys.ANONYMOUS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from aiohttp import web as aioweb
from faust import web

from app.domain.keys import ANONYMOUS, KeyRing, Principal, Role, presented_key
from app.domain.query import LogQuery
from app.errors import ConfigError, TenantMismatch
from app.settings import Settings
from app.web.observe import route_template
from app.web.problems import error_response

Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]
PRINCIPAL = "logpipe.principal"
ROLE = "logpipe.role"

RoleFor = Callable[[str, str], Role | None]


def load_keyring(settings: Settings) -> KeyRing | None:
    """The configured keys, or ``None`` when auth is off; auth on with no key is refused (nobody could get in)."""
    if not settings.auth_enabled:
        return None
    if settings.api_keys_file:
        raw = Path(settings.api_keys_file).read_bytes()
    elif settings.api_keys is not None:
        raw = settings.api_keys.get_secret_value().encode()
    else:
        raw = b"{}"
    keyring = KeyRing.from_json(raw)
    if not keyring:
        raise ConfigError(
            "AUTH_ENABLED is true but no API key is configured: set API_KEYS or API_KEYS_FILE "
            "(`logpipe keys new` makes one), or AUTH_ENABLED=false for local development"
        )
    return keyring


def role_of(request: aioweb.Request) -> Role | None:
    """The role the request's route needs (``None``: open), as :func:`authenticate` found it."""
    return cast(Role | None, request.get(ROLE))


def authenticate(keyring: KeyRing | None, role_for: RoleFor) -> Any:
    """The middleware, for ``keyring`` (``None``: auth off); ``role_for(method, route template)`` is the route
    table's word on what each route needs."""

    @aioweb.middleware
    async def middleware(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
        role = request[ROLE] = role_for(request.method, route_template(request))
        if keyring is None:
            request[PRINCIPAL] = ANONYMOUS
            return await handler(request)
        if role is None:  # an open route: no principal, so no view there can read as anyone
            return await handler(request)
        key = presented_key(request.headers)
        principal = keyring.identify(key) if key else None
        if principal is None:
            message = "an API key is required: send it as X-API-Key" if not key else "the API key is not valid"
            response = error_response(401, "unauthorized", message)
            response.headers["WWW-Authenticate"] = 'Bearer realm="logpipe"'
            return cast(aioweb.Response, response)
        if not principal.may(role):
            message = f"this API key lacks the {role} role needed for {request.method} {request.path}"
            return cast(aioweb.Response, error_response(403, "forbidden", message))
        request[PRINCIPAL] = principal
        return await handler(request)

    return middleware


def principal_of(request: web.Request) -> Principal:
    """The request's principal (set by the middleware on every route that needs one)."""
    principal = cast(aioweb.Request, request).get(PRINCIPAL)
    if not isinstance(principal, Principal):
        # A view read data on a route the route table calls open: refuse rather than show everything.
        path = cast(aioweb.Request, request).path
        raise LookupError(f"{request.method} {path} has no principal; give its route a role")
    return principal


def tenant_of(request: web.Request) -> str | None:
    """The one organization the request may see, or ``None`` for all."""
    return principal_of(request).tenant


def cache_scope(tenant: str | None) -> str:
    """The part of a cache key that says who may see the cached answer."""
    return "all" if tenant is None else "org-" + hashlib.sha256(tenant.encode()).hexdigest()[:24]


def scope_query(query: LogQuery, tenant: str | None) -> LogQuery:
    """``query`` narrowed to ``tenant``; asking for another organization is refused, not widened."""
    if tenant is None:
        return query
    if query.organization_id not in (None, tenant):
        raise TenantMismatch(f"organizationId: this API key may only read organization {tenant!r}")
    return dataclasses.replace(query, organization_id=tenant)


def forbidden(exc: TenantMismatch) -> web.Response:
    return error_response(
        403,
        "forbidden",
        str(exc),
        errors=[{"field": "organizationId", "rule": "tenant", "message": str(exc)}],
    )
