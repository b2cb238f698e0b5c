"""The shippers' protocols, end to end: OTLP/HTTP protobuf and Loki snappy protobuf batches → rows.

The same measure as the native batch route (:func:`bench.paths.post_path`),
so the three figures sit side by side: what a protocol's decoding costs
shows as the difference.
"""

from __future__ import annotations

import time
from typing import Any

import cramjam
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from app.domain.protocols.loki_pb import PushRequest
from bench.paths import LEVELS, post_path

SEVERITY = {"DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17}


def otlp_bodies(n: int, batch: int) -> list[bytes]:
    """ExportLogsServiceRequests of ``batch`` records each, 25 services, as an OTel SDK batches them."""
    now = time.time_ns()
    bodies = []
    for b in range(max(n // batch, 1)):
        request = ExportLogsServiceRequest()
        resource_logs = request.resource_logs.add()
        service = resource_logs.resource.attributes.add()
        service.key, service.value.string_value = "service.name", f"otel-svc-{b % 25}"
        records = resource_logs.scope_logs.add().log_records
        for i in range(batch):
            record = records.add()
            record.time_unix_nano = now
            record.severity_number = SEVERITY[LEVELS[i % 4]]
            record.body.string_value = f"otlp request {b}-{i} served in {i % 997} ms for user {i % 5003}"
            route = record.attributes.add()
            route.key, route.value.string_value = "http.route", "/api/orders"
        bodies.append(request.SerializeToString())
    return bodies


def loki_bodies(n: int, batch: int) -> list[bytes]:
    """Snappy-compressed PushRequests of ``batch`` entries in 4 streams each, as Promtail and Alloy send them."""
    now = time.time_ns()
    bodies = []
    for b in range(max(n // batch, 1)):
        push: Any = PushRequest()
        for level in LEVELS:
            stream = push.streams.add()
            stream.labels = f'{{job="loki-svc-{b % 25}", level="{level.lower()}"}}'.encode()
            for i in range(batch // len(LEVELS)):
                entry = stream.entries.add()
                entry.timestamp.FromNanoseconds(now)
                entry.line = f"loki request {b}-{i} served in {i % 997} ms for user {i % 5003}".encode()
        bodies.append(bytes(cramjam.snappy.compress_raw(push.SerializeToString())))
    return bodies


async def otlp_path(url: str, database_url: str, n: int, *, batch: int = 500) -> dict[str, float]:
    headers = {"Content-Type": "application/x-protobuf"}
    return await post_path(url, "/v1/logs", otlp_bodies(n, batch), batch, database_url, headers=headers, ok=200)


async def loki_path(url: str, database_url: str, n: int, *, batch: int = 500) -> dict[str, float]:
    headers = {"Content-Type": "application/x-protobuf"}
    return await post_path(
        url, "/loki/api/v1/push", loki_bodies(n, batch), batch, database_url, headers=headers, ok=204
    )
