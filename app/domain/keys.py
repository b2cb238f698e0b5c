"""API keys: who a request is, which tenant's data it may touch, what it may do.

Keys are configured as a JSON object mapping the SHA-256 (hex) of each key
to its organization and roles, so the configuration never holds a usable
key::

    {"9f86d0...": {"organization": "acme", "roles": ["ingest", "query"]},
     "2c26b4...": {"organization": null, "roles": ["admin"]}}

``ingest`` may post events (each is stamped with the key's organization),
``query`` may read its organization's events and counts, ``admin`` may do
everything, across all organizations, dead letters included. A presented
key is hashed and compared with *every* configured hash in constant time,
so neither the key nor how much of it matched shows in the response time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from app.errors import ConfigError

Role = Literal["ingest", "query", "admin"]
ROLES: Final[tuple[Role, ...]] = ("ingest", "query", "admin")
KEY_PREFIX: Final = "lp_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: ``name`` identifies the key in metrics and rate limits (never the key itself)."""

    name: str
    organization: str | None
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return role in self.roles or "admin" in self.roles

    @property
    def tenant(self) -> str | None:
        """The only organization this principal may see, or ``None`` for all of them (admin)."""
        return None if "admin" in self.roles else self.organization


ANONYMOUS: Final = Principal(name="anonymous", organization=None, roles=frozenset({"admin"}))
"""Who every request is when auth is off (local development): everything, everywhere."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: 32 random bytes, URL-safe, recognisable by its prefix in secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """The configured keys; :meth:`identify` turns a presented key into a :class:`Principal`."""

    def __init__(self, entries: Iterable[tuple[bytes, Principal]]) -> None:
        self._entries = list(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, key: str) -> Principal | None:
        digest = hashlib.sha256(key.encode()).digest()
        found: Principal | None = None
        for stored, principal in self._entries:  # no early exit: the same work for every key
            if hmac.compare_digest(stored, digest):
                found = principal
        return found

    @classmethod
    def from_json(cls, raw: str | bytes) -> KeyRing:
        try:
            config = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"API keys: not JSON ({exc})") from exc
        if not isinstance(config, Mapping):
            raise ConfigError("API keys: must be a JSON object mapping sha256(key) to {organization, roles}")
        return cls(_entry(digest, spec) for digest, spec in config.items())


def _entry(digest: str, spec: Any) -> tuple[bytes, Principal]:
    where = f"API keys: entry {digest[:12]}…"
    try:
        raw = bytes.fromhex(digest)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{where}: the name must be the key's SHA-256 as 64 hex digits")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: must be an object with organization and roles")
    roles = spec.get("roles")
    if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
        raise ConfigError(f"{where}: roles must be a non-empty list of {', '.join(ROLES)}")
    organization = spec.get("organization")
    if organization is not None and (not isinstance(organization, str) or not organization.strip()):
        raise ConfigError(f"{where}: organization must be a non-empty string or null")
    if organization is None and "admin" not in roles:
        raise ConfigError(f"{where}: a key without an organization must have the admin role")
    name = str(spec.get("name") or digest[:12])
    return raw, Principal(name=name, organization=organization, roles=frozenset(roles))


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request carries, wherever its client puts one.

    ``X-API-Key``; ``Authorization: Bearer <key>`` (OTLP exporters, Loki
    clients); ``Authorization: Basic`` with the key as the password (Loki
    and Elasticsearch clients that only know a user and a password; the
    user is ignored); ``Authorization: ApiKey <key>`` (Elasticsearch
    clients), also as Elasticsearch's own ``base64(id:key)``.
    """
    key = headers.get("X-API-Key")
    if key:
        return key.strip()
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if not token:
        return None
    if scheme == "bearer":
        return token
    if scheme == "basic":
        return _decoded_pair(token)
    if scheme == "apikey":
        return token if token.startswith(KEY_PREFIX) else _decoded_pair(token) or token
    return None


def _decoded_pair(token: str) -> str | None:
    """The second half of ``base64(first:second)``, or ``None`` when the token is not that."""
    try:
        decoded = base64.b64decode(token, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    _, colon, second = decoded.partition(":")
    return second.strip() or None if colon else None
