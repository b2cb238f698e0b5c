"""Real records from Fluent Bit, Vector, Filebeat, Docker, Logstash and the Python JSON loggers, mapped."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.protocols.shapes import from_shipper
from app.models import parse_event

FLUENT_BIT_TAIL_KUBERNETES = {
    "@timestamp": "2024-05-01T10:00:00.123Z",
    "log": "GET /healthz 200\n",
    "stream": "stdout",
    "time": "2024-05-01T10:00:00.123456789Z",
    "kubernetes": {
        "pod_name": "api-7d9f",
        "namespace_name": "shop",
        "pod_id": "2f0b",
        "labels": {"app": "api"},
        "host": "node-3",
        "container_name": "api",
        "docker_id": "abc",
        "container_image": "shop/api:1.2",
    },
}
VECTOR_KUBERNETES_LOGS = {
    "file": "/var/log/pods/shop_api-7d9f/api/0.log",
    "kubernetes": {
        "container_id": "containerd://abc",
        "container_image": "shop/api:1.2",
        "container_name": "api",
        "pod_labels": {"app": "api"},
        "pod_name": "api-7d9f",
        "pod_namespace": "shop",
        "pod_node_name": "node-3",
    },
    "message": "GET /healthz 200",
    "source_type": "kubernetes_logs",
    "stream": "stdout",
    "timestamp": "2024-05-01T10:00:00.499555308Z",
}
FILEBEAT_ECS = {
    "@timestamp": "2024-05-01T10:00:00.000Z",
    "log": {"offset": 80, "file": {"path": "/var/log/app.log"}, "level": "error"},
    "message": "payment failed",
    "input": {"type": "filestream"},
    "ecs": {"version": "8.0.0"},
    "service": {"type": "app"},
    "host": {"name": "web-1", "hostname": "web-1", "os": {"family": "debian"}},
    "agent": {"type": "filebeat", "version": "8.11.0", "name": "web-1"},
    "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
}
DOCKER_JSON_FILE = {"log": "listening on :8080\n", "stream": "stderr", "time": "2024-05-01T10:00:00.111111111Z"}
LOGSTASH_EVENT = {
    "@timestamp": "2024-05-01T10:00:00.000Z",
    "@version": "1",
    "message": "user signed in",
    "host": {"name": "ls-1"},
    "event": {"original": "user signed in"},
    "tags": ["beats_input_codec_plain_applied"],
}
STRUCTLOG_LINE = {"event": "user signed in", "level": "info", "timestamp": "2024-05-01T10:00:00Z", "logger": "auth"}
PYTHON_JSON_LOGGER_LINE = {
    "message": "cache miss",
    "levelname": "WARNING",
    "name": "app.cache",
    "timestamp": "2024-05-01T10:00:00.123456+00:00",
    "key": "user:42",
}


@pytest.mark.parametrize(
    ("document", "expected", "metadata_keys"),
    [
        (
            FLUENT_BIT_TAIL_KUBERNETES,
            ("GET /healthz 200", "INFO", "api", "2024-05-01 10:00:00.123000+00:00"),
            {"stream", "time", "kubernetes"},
        ),
        (
            VECTOR_KUBERNETES_LOGS,
            ("GET /healthz 200", "INFO", "api", "2024-05-01 10:00:00.499555+00:00"),
            {"file", "kubernetes", "source_type", "stream"},
        ),
        (
            FILEBEAT_ECS,
            ("payment failed", "ERROR", "web-1", "2024-05-01 10:00:00+00:00"),
            {"log", "input", "ecs", "service", "host", "agent"},
        ),
        (DOCKER_JSON_FILE, ("listening on :8080", "INFO", None, "2024-05-01 10:00:00.111111+00:00"), {"stream"}),
        (
            LOGSTASH_EVENT,
            ("user signed in", "INFO", "ls-1", "2024-05-01 10:00:00+00:00"),
            {"@version", "event", "tags"},
        ),
        (STRUCTLOG_LINE, ("user signed in", "INFO", "auth", "2024-05-01 10:00:00+00:00"), set()),
        (
            PYTHON_JSON_LOGGER_LINE,
            ("cache miss", "WARN", "app.cache", "2024-05-01 10:00:00.123456+00:00"),
            {"key"},
        ),
    ],
    ids=["fluent-bit", "vector", "filebeat", "docker", "logstash", "structlog", "python-json-logger"],
)
def test_real_shipper_samples(document: dict[str, Any], expected: tuple[Any, ...], metadata_keys: set[str]) -> None:
    mapped = from_shipper(document)
    event = parse_event({"source": "docker", **mapped})
    source = expected[2] or "docker"
    assert (event.message, event.level, event.source, str(event.timestamp)) == (*expected[:2], source, expected[3])
    assert set(event.metadata or {}) == metadata_keys


def test_filebeat_keeps_the_rest_of_its_nested_objects() -> None:
    event = from_shipper(FILEBEAT_ECS)
    assert event["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert event["metadata"]["log"] == {"offset": 80, "file": {"path": "/var/log/app.log"}}
    assert event["metadata"]["host"] == {"hostname": "web-1", "os": {"family": "debian"}}
    assert "trace" not in event["metadata"]
