"""API keys: configuration, identification, roles, tenant scoping."""

from __future__ import annotations

import orjson
import pytest

from app.domain.keys import ANONYMOUS, KeyRing, hash_key, new_key, presented_key
from app.domain.query import LogQuery
from app.errors import ConfigError, TenantMismatch
from app.settings import Settings
from app.web.access import cache_scope, load_keyring, scope_query
from app.web.routes import role_for

ACME_KEY, GLOBEX_KEY, ADMIN_KEY = new_key(), new_key(), new_key()
CONFIG = {
    hash_key(ACME_KEY): {"organization": "acme", "roles": ["ingest", "query"], "name": "acme-shipper"},
    hash_key(GLOBEX_KEY): {"organization": "globex", "roles": ["query"]},
    hash_key(ADMIN_KEY): {"organization": None, "roles": ["admin"]},
}


def test_keys_are_identified_by_their_hash() -> None:
    ring = KeyRing.from_json(orjson.dumps(CONFIG))
    assert len(ring) == 3
    acme = ring.identify(ACME_KEY)
    assert acme is not None
    assert (acme.name, acme.organization, acme.tenant) == ("acme-shipper", "acme", "acme")
    assert acme.may("ingest") and acme.may("query") and not acme.may("admin")
    globex = ring.identify(GLOBEX_KEY)
    assert globex is not None and globex.name == hash_key(GLOBEX_KEY)[:12] and not globex.may("ingest")
    admin = ring.identify(ADMIN_KEY)
    assert admin is not None and admin.tenant is None and admin.may("ingest") and admin.may("query")
    assert ring.identify(ACME_KEY + "x") is None
    assert ring.identify("") is None
    assert ring.identify(hash_key(ACME_KEY)) is None, "the configured hash is not itself a key"


def test_new_keys_are_long_random_and_prefixed() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("lp_") and len(k) >= 40 for k in keys)


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        (b"not json", "not JSON"),
        (b"[]", "must be a JSON object"),
        (orjson.dumps({"abc": {"organization": "a", "roles": ["query"]}}), "64 hex digits"),
        (orjson.dumps({"0" * 64: {"organization": "a", "roles": []}}), "roles must be"),
        (orjson.dumps({"0" * 64: {"organization": "a", "roles": ["root"]}}), "roles must be"),
        (orjson.dumps({"0" * 64: {"organization": " ", "roles": ["query"]}}), "organization must be"),
        (orjson.dumps({"0" * 64: {"roles": ["query"]}}), "without an organization must have the admin role"),
        (orjson.dumps({"0" * 64: "query"}), "must be an object"),
    ],
)
def test_bad_configuration_says_which_entry_and_why(config: bytes, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        KeyRing.from_json(config)


def test_auth_on_needs_a_key_and_auth_off_needs_none() -> None:
    assert load_keyring(Settings(auth_enabled=False)) is None
    ring = load_keyring(Settings(auth_enabled=True, api_keys=orjson.dumps(CONFIG).decode()))
    assert ring is not None and len(ring) == 3
    for without_keys in (Settings(auth_enabled=True), Settings(auth_enabled=True, api_keys="{}")):
        with pytest.raises(ConfigError, match="AUTH_ENABLED is true but no API key is configured"):
            load_keyring(without_keys)


def test_the_key_comes_from_x_api_key_or_a_bearer_token() -> None:
    assert presented_key({"X-API-Key": " k1 "}) == "k1"
    assert presented_key({"Authorization": "Bearer k2"}) == "k2"
    assert presented_key({"Authorization": "bearer k3"}) == "k3"
    assert presented_key({"Authorization": "Basic dXNlcjpwdw=="}) == "pw"  # user:pw, the key as the password
    assert presented_key({"Authorization": "ApiKey lp_k4"}) == "lp_k4"
    assert presented_key({"Authorization": "ApiKey aWQ6bHBfazU="}) == "lp_k5"  # Elasticsearch's base64(id:key)
    assert presented_key({"Authorization": "Basic not-base64"}) is None
    assert presented_key({"Authorization": "Bearer "}) is None
    assert presented_key({}) is None


@pytest.mark.parametrize(
    ("method", "route", "role"),
    [
        ("POST", "/api/v1/logs", "ingest"),
        ("POST", "/api/v1/logs/batch", "ingest"),
        ("POST", "/producer/api/logs/ingest", "ingest"),
        ("GET", "/api/v1/logs", "query"),
        ("GET", "/api/v1/logs/{event_id}", "query"),
        ("GET", "/api/v1/logs/tail", "query"),
        ("GET", "/api/v1/stats", "query"),
        ("GET", "/gateway/api/query/search", "query"),
        ("GET", "/api/v1/dlq", "admin"),
        ("POST", "/api/v1/dlq/replay", "admin"),
        ("GET", "/health", None),
        ("GET", "/ready", None),
        ("GET", "/metrics", None),
        ("GET", "/openapi.json", None),
        ("GET", "/", None),
        ("GET", "/producer/api/logs/health", None),
    ],
)
def test_each_route_needs_its_role(method: str, route: str, role: str | None) -> None:
    assert role_for(method, route) == role


def test_a_tenant_query_is_narrowed_never_widened() -> None:
    assert scope_query(LogQuery(), None) == LogQuery()
    assert scope_query(LogQuery(), "acme").organization_id == "acme"
    assert scope_query(LogQuery(organization_id="acme"), "acme").organization_id == "acme"
    with pytest.raises(TenantMismatch, match="only read organization 'acme'"):
        scope_query(LogQuery(organization_id="globex"), "acme")


def test_cached_answers_are_kept_apart_per_tenant() -> None:
    assert cache_scope(None) == "all"
    assert cache_scope("acme") != cache_scope("globex") != "all"
    assert ANONYMOUS.tenant is None
