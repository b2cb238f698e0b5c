"""The route table's rows for the shippers' protocols: OTLP/HTTP, Loki push, Elasticsearch bulk and its probes."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from app.web.elastic_views import ElasticBulk, ElasticProbe, ElasticSetup
from app.web.loki_views import LokiPush
from app.web.operations import Operation, Param, Route
from app.web.otlp_views import OtlpLogs

_OTLP_OP: Final = Operation(
    "post",
    "/v1/logs",
    "Ingest OTLP/HTTP logs (OpenTelemetry SDKs, Collector, Alloy, Fluent Bit)",
    "shippers",
    {200: None, 400: None, 413: None, 415: None, 503: None},
    body="otlp",
    produces=("application/json", "application/x-protobuf"),
    errors_produce=("application/json", "application/x-protobuf"),
)
_INDEX: Final = (Param("index", "The index named in the path (the default of the actions' `_index`).", where="path"),)
_BULK_OP: Final = Operation(
    "post",
    "/_bulk",
    "Ingest an Elasticsearch bulk request (Filebeat, Logstash, Fluent Bit, Vector, rsyslog)",
    "shippers",
    {200: None, 400: None, 413: None, 503: None},
    body="bulk",
)
_NAME: Final = (Param("name", "The template's, policy's or pipeline's name.", where="path"),)
_ES_PROBES: Final = (
    ("get", "/_cluster/health", "Elasticsearch cluster health (client start-up probe)", (), "application/json"),
    ("get", "/_license", "Elasticsearch license (client start-up probe)", (), "application/json"),
    ("get", "/_cat/health", "Elasticsearch cat health (rsyslog's probe)", (), "text/plain"),
    ("get", "/_nodes", "Elasticsearch nodes (client start-up probe)", (), "application/json"),
    ("get", "/_index_template/{name}", "An index template (acknowledged, not used)", _NAME, "application/json"),
    ("put", "/_index_template/{name}", "Load an index template (acknowledged, not used)", _NAME, "application/json"),
    ("get", "/_ilm/policy/{name}", "An ILM policy (acknowledged, not used)", _NAME, "application/json"),
    ("put", "/_ilm/policy/{name}", "Load an ILM policy (acknowledged, not used)", _NAME, "application/json"),
    ("get", "/_ingest/pipeline/{name}", "An ingest pipeline (acknowledged, not used)", _NAME, "application/json"),
    ("put", "/_ingest/pipeline/{name}", "Load an ingest pipeline (acknowledged, not used)", _NAME, "application/json"),
)

SHIPPER_ROUTES: Final[tuple[Route, ...]] = (
    Route(OtlpLogs, "ingest", _OTLP_OP),
    Route(OtlpLogs, "ingest", replace(_OTLP_OP, path="/otlp/v1/logs", summary="Ingest OTLP/HTTP logs (prefixed)")),
    Route(
        LokiPush,
        "ingest",
        Operation(
            "post",
            "/loki/api/v1/push",
            "Ingest a Loki push (Promtail, Alloy, Fluent Bit, Vector)",
            "shippers",
            {204: None, 400: None, 403: None, 413: None, 415: None, 503: None},
            body="loki",
            errors_produce=("text/plain",),
        ),
    ),
    Route(ElasticBulk, "ingest", _BULK_OP),
    Route(ElasticBulk, "ingest", replace(_BULK_OP, path="/{index}/_bulk", params=_INDEX)),
    *(
        Route(
            ElasticSetup if params else ElasticProbe,
            None,
            Operation(method, path, summary, "shippers", {200: None}, params, produces=produces),
        )
        for method, path, summary, params, produces in _ES_PROBES
    ),
)
