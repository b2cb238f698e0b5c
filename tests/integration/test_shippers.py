"""The shippers' HTTP protocols against a real worker: OTLP/HTTP (the OpenTelemetry SDK's own exporter, and JSON on
the wire), Loki push (JSON and snappy protobuf), Elasticsearch bulk and its probes, and Python's HTTPHandler.

Each ends in rows with the right level, source, trace id and metadata, or in
the protocol's own refusal naming the field and the rule.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import gzip
import logging
import logging.handlers
import time
import uuid
import warnings
from typing import Any

import aiohttp
import cramjam
import orjson
import pytest

from app.domain.protocols.loki_pb import PushRequest
from tests.support.api import call
from tests.support.deadlines import wait_for
from tests.support.rows import query, row_count
from tests.support.tenants import ACME, GLOBEX, secured_worker
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration


def rows(database_url: str, source: str) -> list[tuple[Any, ...]]:
    """(level, message, trace_id, metadata) of ``source``'s rows, oldest first."""
    sql = "SELECT level, message, trace_id, metadata FROM logs WHERE source = %s ORDER BY timestamp, message"
    return query(database_url, sql, source)


async def test_the_opentelemetry_sdk_exports_logs_with_the_trace_they_were_written_in(
    workers: WorkerFactory, database_url: str
) -> None:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    worker = await workers.ready()
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "deployment.environment": "test"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=worker.url + "/v1/logs")))
    logger = provider.get_logger("payments")
    tracer = TracerProvider().get_tracer("test")

    def log_in_a_span() -> str:
        # The SDK's own logger API; the span current when it emits gives the record its trace.
        with tracer.start_as_current_span("pay") as span:
            logger.emit(
                severity_number=SeverityNumber.ERROR,
                severity_text="ERROR",
                body="payment p-7 declined",
                attributes={"order.id": "o-1"},
            )
            return f"{span.get_span_context().trace_id:032x}"

    trace_id = await asyncio.to_thread(log_in_a_span)
    await asyncio.to_thread(provider.shutdown)
    await wait_for(lambda: bool(rows(database_url, "checkout")), timeout=30, what="the SDK's record as a row")
    [(level, message, stored_trace, metadata)] = await asyncio.to_thread(rows, database_url, "checkout")
    assert (level, message, stored_trace) == ("ERROR", "payment p-7 declined", trace_id)
    assert metadata["order.id"] == "o-1" and metadata["deployment.environment"] == "test"
    assert metadata["service.name"] == "checkout" and len(metadata["span_id"]) == 16


async def test_otlp_json_answers_partial_success_and_the_spec_status(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    worker = await workers.ready()
    now = str(time.time_ns())
    good = {"timeUnixNano": now, "severityText": "WARNING", "body": {"stringValue": "disk 91% full"}}
    nested = {"timeUnixNano": now, "body": {"kvlistValue": {"values": [{"key": "k", "value": {"intValue": "3"}}]}}}
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "node-1"}}]},
                "scopeLogs": [{"logRecords": [good, {"body": {}}, nested]}],
            }
        ]
    }
    status, body, headers = await call(
        http, "POST", worker.url + "/v1/logs", gzip.compress(orjson.dumps(document)),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )  # fmt: skip
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert body["partialSuccess"]["rejectedLogRecords"] == "1"
    assert "record 1: body" in body["partialSuccess"]["errorMessage"]
    await wait_for(lambda: len(rows(database_url, "node-1")) == 2, timeout=30, what="the two good records")
    assert [(r[0], r[1]) for r in (await asyncio.to_thread(rows, database_url, "node-1"))] == [
        ("WARN", "disk 91% full"),
        ("INFO", '{"k":3}'),
    ]

    status, body, _ = await call(
        http, "POST", worker.url + "/v1/logs", b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and body["code"] == 3 and "JSON" in body["message"]
    status, _, _ = await call(http, "POST", worker.url + "/otlp/v1/logs", b"x", headers={"Content-Type": "text/plain"})
    assert status == 415


def loki_push(labels: str, *lines: str) -> bytes:
    push: Any = PushRequest()
    stream = push.streams.add()
    stream.labels = labels.encode()
    for line in lines:
        entry = stream.entries.add()
        entry.timestamp.FromNanoseconds(time.time_ns())
        entry.line = line.encode()
    return bytes(cramjam.snappy.compress_raw(push.SerializeToString()))


async def test_loki_push_json_and_snappy_protobuf(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    worker = await workers.ready()
    url = worker.url + "/loki/api/v1/push"
    now = str(time.time_ns())
    streams = {"streams": [{"stream": {"job": "promtail", "level": "error", "env": "prod"}, "values": [[now, "boom"]]}]}
    status, _, _ = await call(http, "POST", url, streams, headers={"Content-Type": "application/json"})
    assert status == 204
    body = loki_push('{app="api", detected_level="warn", pod="api-1"}', "slow request", "user=u1 status=500")
    status, _, _ = await call(http, "POST", url, body, headers={"Content-Type": "application/x-protobuf"})
    assert status == 204
    await wait_for(lambda: row_count(database_url) == 3, timeout=30, what="three Loki entries as rows")
    assert (await asyncio.to_thread(rows, database_url, "promtail")) == [("ERROR", "boom", None, {"env": "prod"})]
    api = await asyncio.to_thread(rows, database_url, "api")
    assert [(r[0], r[1]) for r in api] == [("WARN", "slow request"), ("WARN", "user=u1 status=500")]
    assert api[1][3] == {"pod": "api-1", "fields": {"user": "u1", "status": "500"}}

    old = str((time.time_ns()) - 3651 * 86400 * 10**9)
    mixed = {"streams": [{"stream": {"job": "j"}, "values": [[now, "kept"], [old, "too old"]]}]}
    async with http.post(url, data=orjson.dumps(mixed), headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert "entry 1: timestamp" in await response.text()
    await wait_for(lambda: bool(rows(database_url, "j")), timeout=30, what="the entry that was fine, stored")
    async with http.post(url, data=b"\x00garbage", headers={"Content-Type": "application/x-protobuf"}) as response:
        assert response.status == 400 and "invalid_snappy" in await response.text()


async def test_elasticsearch_clients_probe_then_bulk(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    worker = await workers.ready()
    status, root, headers = await call(http, "GET", worker.url + "/", headers={"Accept": "application/json"})
    assert status == 200 and root["version"]["number"] == "8.11.0" and headers["X-Elastic-Product"] == "Elasticsearch"
    async with http.get(worker.url + "/", headers={"Accept": "text/html"}) as response:
        assert response.status == 200 and "<html" in (await response.text()).lower()
    for probe in ("/_license", "/_cluster/health", "/_index_template/filebeat-8", "/_nodes"):
        status, _, headers = await call(http, "GET", worker.url + probe)
        assert (status, headers["X-Elastic-Product"]) == (200, "Elasticsearch"), probe
    status, body, _ = await call(http, "PUT", worker.url + "/_ilm/policy/filebeat", {"policy": {}})
    assert body == {"acknowledged": True}

    resent = str(uuid.uuid4())
    login = {"@timestamp": "2026-01-02T03:04:05Z", "message": "login", "log": {"level": "warn"}}
    login["service"] = {"name": "auth"}
    bulk = (
        b'{"create":{}}\n'
        + orjson.dumps(login)
        + b'\n{"delete":{"_id":"1"}}\n{"index":{"_id":"' + resent.encode() + b'"}}\n{"msg":"no source, so the index"}\n'
        + b'{"create":{}}\n{"message":"", "service":"auth"}\n'
    )  # fmt: skip
    for _ in range(2):  # sent twice, as a shipper resends a chunk: the UUID _id stores it once
        status, body, headers = await call(
            http, "POST", worker.url + "/logs-app/_bulk", bulk, headers={"Content-Type": "application/x-ndjson"}
        )
        assert status == 200 and body["errors"] is True and headers["X-Elastic-Product"] == "Elasticsearch"
        assert [next(iter(item)) for item in body["items"]] == ["create", "delete", "index", "create"]
        assert [next(iter(item.values()))["status"] for item in body["items"]] == [201, 400, 201, 400]
        assert body["items"][2]["index"]["_id"] == resent
        assert "message" in body["items"][3]["create"]["error"]["reason"]
    await wait_for(lambda: row_count(database_url) == 3, timeout=30, what="the login twice and the resent once")
    assert {(r[0], r[1]) for r in (await asyncio.to_thread(rows, database_url, "auth"))} == {("WARN", "login")}
    assert await asyncio.to_thread(query, database_url, "SELECT count(*) FROM logs WHERE id = %s", resent) == [(1,)]


async def test_pythons_http_handler_posts_a_record_as_it_is(workers: WorkerFactory, database_url: str) -> None:
    worker = await workers.ready()
    handler = logging.handlers.HTTPHandler(f"127.0.0.1:{worker.port}", "/api/v1/logs", method="POST")
    logger = logging.getLogger("billing")
    logger.propagate = False
    logger.addHandler(handler)

    def send() -> None:
        # CPython's HTTPHandler never closes its connection: its socket is dropped unclosed as emit returns.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            logger.warning("invoice %s is %d days late", "i-9", 3)
            gc.collect()

    await asyncio.to_thread(send)
    await wait_for(lambda: bool(rows(database_url, "billing")), timeout=30, what="the handler's record as a row")
    [(level, message, _, metadata)] = await asyncio.to_thread(rows, database_url, "billing")
    assert (level, message) == ("WARN", "invoice i-9 is 3 days late")
    assert metadata["funcName"] and metadata["lineno"]


async def test_timestamps_far_ahead_or_past_retention_are_refused_by_rule(
    workers: WorkerFactory, http: aiohttp.ClientSession
) -> None:
    worker = await workers.ready(RETENTION_DAYS="7")
    for timestamp, rule in (("7817-01-01T00:00:00Z", "range"), ("2020-01-01T00:00:00Z", "too_old")):
        event = {"message": "m", "source": "s", "timestamp": timestamp}
        status, body, _ = await call(http, "POST", worker.url + "/api/v1/logs", event)
        assert status == 422 and body["errors"][0] == {
            "field": "timestamp",
            "rule": rule,
            "message": body["errors"][0]["message"],
        }


async def test_each_shipper_presents_its_key_its_own_way_and_writes_only_its_organization(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    worker = await secured_worker(workers)
    now = str(time.time_ns())
    record = {"timeUnixNano": now, "body": {"stringValue": "otlp"}}
    service = {"attributes": [{"key": "service.name", "value": {"stringValue": "o"}}]}
    otlp = {"resourceLogs": [{"resource": service, "scopeLogs": [{"logRecords": [record]}]}]}
    bearer = {"Authorization": f"Bearer {ACME}", "Content-Type": "application/json"}
    assert (await call(http, "POST", worker.url + "/v1/logs", otlp, headers=bearer))[0] == 200
    credentials = base64.b64encode(f"promtail:{GLOBEX}".encode()).decode()
    basic = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
    push = {"streams": [{"stream": {"job": "l"}, "values": [[now, "loki"]]}]}
    assert (await call(http, "POST", worker.url + "/loki/api/v1/push", push, headers=basic))[0] == 204
    other_org = {"X-Scope-OrgID": "acme", "Content-Type": "application/json", **basic}
    async with http.post(worker.url + "/loki/api/v1/push", data=orjson.dumps(push), headers=other_org) as r:
        assert r.status == 403 and "may only write organization 'globex'" in await r.text()
    api_key = base64.b64encode(f"beats:{ACME}".encode()).decode()
    bulk = b'{"create":{}}\n{"message":"es","service":"e"}\n'
    es_headers = {"Authorization": f"ApiKey {api_key}", "Content-Type": "application/x-ndjson"}
    status, body, _ = await call(http, "POST", worker.url + "/_bulk", bulk, headers=es_headers)
    assert status == 200 and body["errors"] is False
    assert (await call(http, "POST", worker.url + "/_bulk", bulk, headers={"Content-Type": "application/x-ndjson"}))[
        0
    ] == 401
    await wait_for(lambda: row_count(database_url) == 3, timeout=30, what="one row from each shipper")
    stored = await asyncio.to_thread(query, database_url, "SELECT source, organization_id FROM logs ORDER BY source")
    assert stored == [("e", "acme"), ("l", "globex"), ("o", "acme")]
