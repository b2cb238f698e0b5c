"""Elasticsearch's bulk API and the probes its clients make first, for Filebeat, Logstash, Fluent Bit's and
Vector's ``es`` outputs, and rsyslog's ``omelasticsearch``.

``POST /_bulk`` and ``POST /{index}/_bulk`` take NDJSON action/document
pairs (``index`` and ``create``; other actions are refused per item) and
answer 200 with ``{"took","errors","items"}`` in Elasticsearch's key order,
each item 201 or 400 with the field and rule. ``GET /`` (JSON, for clients
that do not ask for HTML), ``/_cluster/health``, ``/_cat/health``,
``/_license``, ``/_nodes``, and index templates, ILM policies and ingest
pipelines (taken and acknowledged: logpipe keeps its own schema) answer what
the clients check before they send. Every answer carries
``X-Elastic-Product: Elasticsearch``, which the official clients require.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from aiohttp import web as aioweb
from faust import web

from app.domain.admission import Admitted
from app.domain.protocols.elastic import BulkItem, BulkOutcome, bulk_response, decode_bulk
from app.domain.protocols.elastic_probes import PRODUCT_HEADER, cat_health, cluster_health, license_document
from app.errors import Backpressure, BadBody, RateLimited, TryLater
from app.web.access import tenant_of
from app.web.base import ServiceView
from app.web.ingest_views import ShipperView

HEADERS: Final = dict([PRODUCT_HEADER])


def es_json(body: Any, status: int = 200) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return aioweb.Response(body=data, status=status, content_type="application/json", headers=HEADERS)  # type: ignore[return-value]


def es_error(status: int, kind: str, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error in Elasticsearch's shape: ``{"error": {"root_cause", "type", "reason"}, "status"}``."""
    cause = {"type": kind, "reason": reason}
    response = es_json({"error": {"root_cause": [cause], **cause}, "status": status}, status)
    response.headers.update(headers or {})
    return response


class ElasticBulk(ShipperView):
    protocol = "elasticsearch"

    async def post(self, request: web.Request, index: str | None = None) -> web.Response:
        started = time.monotonic()
        try:
            self.services.intake.admit(self.protocol)
            body = await self.inflated(request)
            bulk = [_own_id(item) for item in decode_bulk(body, index=index, received_at=datetime.now(UTC))]
            admitted = await self.take(request, [b.item for b in bulk], tenant_of(request))
        except BadBody as exc:
            status = 413 if exc.code in ("too_large", "payload_too_large") else 400
            kind = "content_too_long_exception" if status == 413 else "parse_exception"
            return es_error(status, kind, f"{exc.code}: {exc.message}")
        except TryLater as exc:
            status = 429 if isinstance(exc, Backpressure | RateLimited) else 503
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return es_error(status, kind, exc.message, {**exc.headers, "Retry-After": str(exc.retry_after)})
        took = int((time.monotonic() - started) * 1000)
        return es_json(bulk_response(outcomes(bulk, admitted), took))


def _own_id(bulk: BulkItem) -> BulkItem:
    """An action's ``_id`` that is a UUID becomes the event's id, so a resent bulk stores each document once."""
    if bulk.id is None or not isinstance(bulk.item, dict) or "id" in bulk.item:
        return bulk
    try:
        uuid.UUID(bulk.id)
    except ValueError:
        return bulk
    return BulkItem(bulk.action, bulk.index, bulk.id, {**bulk.item, "id": bulk.id})


def outcomes(bulk: list[BulkItem], admitted: Admitted) -> list[BulkOutcome]:
    """Each action's fate, in order: the id it was stored under, or its first refusal."""
    ids = {index: str(event.id) for index, event in admitted.events}
    return [
        BulkOutcome(item, item.id or ids.get(i), admitted.refused[i][0] if i in admitted.refused else None)
        for i, item in enumerate(bulk)
    ]


class ElasticProbe(ServiceView):
    """What Elasticsearch's clients ask before they send; open, like Elasticsearch's own root."""

    @property
    def cluster(self) -> str:
        return self.settings.app_id

    async def get(self, request: web.Request, **kwargs: Any) -> web.Response:
        path = request.url.path
        if path.startswith("/_cluster/health"):
            return es_json(cluster_health(self.cluster))
        if path.startswith("/_license"):
            return es_json(license_document(self.cluster))
        if path.startswith("/_cat/health"):
            text = cat_health(self.cluster, datetime.now(UTC))
            return aioweb.Response(text=text, headers=HEADERS)  # type: ignore[return-value]
        nodes = {"total": 1, "successful": 1, "failed": 0}
        return es_json({"_nodes": nodes, "cluster_name": self.cluster, "nodes": {}})


class ElasticSetup(ServiceView):
    """Index templates, ILM policies and ingest pipelines: taken and acknowledged (logpipe keeps its own schema)."""

    async def get(self, request: web.Request, name: str) -> web.Response:
        return es_json(_stored_setup(request.url.path, name))

    async def put(self, request: web.Request, name: str) -> web.Response:
        return es_json({"acknowledged": True})


def _stored_setup(path: str, name: str) -> dict[str, Any]:
    """A template, policy or pipeline as if stored: clients that check before loading one then skip it."""
    if path.startswith("/_index_template"):
        return {"index_templates": [{"name": name, "index_template": {"index_patterns": [f"{name}*"]}}]}
    if path.startswith("/_ilm/policy"):
        return {name: {"version": 1, "policy": {"phases": {}}}}
    return {name: {"description": "accepted by logpipe, which keeps its own schema", "processors": []}}
