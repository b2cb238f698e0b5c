"""/metrics shows every metric moving under traffic, and dashboards and alerts name only real metrics."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import orjson
import pytest
import yaml

from tests.support.api import scraped
from tests.support.deadlines import wait_for
from tests.support.events import good_event
from tests.support.kafka import produce
from tests.support.rows import row_count
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# Metrics that must have moved (a sample > 0) after the traffic below.
MOVING = [
    'logpipe_http_requests_total{method="POST",route="/api/v1/logs",status="202"}',
    "logpipe_http_request_duration_seconds_count",
    "logpipe_events_accepted_total",
    "logpipe_events_rejected_total",
    "logpipe_events_validated_total",
    'logpipe_events_dead_lettered_total{reason="not_json"}',
    "logpipe_events_persisted_total",
    "logpipe_persist_batch_events_count",
    "logpipe_persist_batch_duration_seconds_count",
    "logpipe_event_latency_seconds_count",
    'logpipe_cache_requests_total{kind="query",result="miss"}',
    'logpipe_cache_requests_total{kind="query",result="hit"}',
    "faust_messages_received_total",
]
PRESENT = [
    "logpipe_consumer_lag_records",
    "logpipe_postgres_retries_total",
    "logpipe_events_duplicate_total",
    "logpipe_circuit_state",
    "logpipe_log_rule_matches",  # from the rules of compose/logpipe-rules.yaml, which the alerts name
]
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NOT_METRICS = {
    "sum",
    "max",
    "min",
    "rate",
    "by",
    "le",
    "histogram_quantile",
    "delta",
    "and",
    "on",
    "or",
    "clamp_min",
    "group",
    "topic",
    "route",
    "status",
    "reason",
    "rule",
    "result",
    "job",
    "instance",
    "kind",
    "method",
    "e",
    "m",
    "s",
    "up",
}


def moved(samples: dict[str, float], wanted: str) -> bool:
    name, _, labels = wanted.partition("{")
    wanted_labels = set(labels.rstrip("}").split(",")) if labels else set()
    for key, value in samples.items():
        key_name, _, key_labels = key.partition("{")
        if key_name == name and wanted_labels <= set(key_labels.rstrip("}").split(",")) and value > 0:
            return True
    return False


def expressions() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    found.append((path.name, target["expr"]))
    for group in yaml.safe_load((ROOT / "compose" / "prometheus" / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            found.append(("alerts.yml", rule["expr"]))
    return found


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    without_labels = re.sub(r"\{[^}]*\}", "", without_ranges)
    return {n for n in _NAME.findall(without_labels) if n not in _NOT_METRICS and not n[0].isdigit()}


async def test_metrics_move_and_dashboards_name_real_metrics(
    workers: WorkerFactory, broker: str, database_url: str
) -> None:
    rules = ROOT / "compose" / "logpipe-rules.yaml"
    worker = await workers.start(LOG_RULES_FILE=str(rules), LOG_RULES_INTERVAL="1")
    await produce(broker, "logs.raw", [good_event(i) for i in range(300)] + [b"not json"])
    async with aiohttp.ClientSession() as http:
        for body in ({"message": "m", "source": "s"}, {"message": ""}):
            async with http.post(f"{worker.url}/api/v1/logs", data=orjson.dumps(body)):
                pass
        for _ in range(2):
            async with http.get(f"{worker.url}/api/v1/logs?source=svc-1") as response:
                assert response.status == 200
        await wait_for(lambda: row_count(database_url) >= 301, timeout=60, what="301 rows")

        async def all_moved() -> bool:
            async with http.get(f"{worker.url}/metrics") as response:
                samples = scraped(await response.text())
            exported = {key.partition("{")[0] for key in samples}
            return all(moved(samples, m) for m in MOVING) and set(PRESENT) <= exported

        await wait_for(all_moved, timeout=30, what="every metric to move")
        async with http.get(f"{worker.url}/metrics") as response:
            text = await response.text()
    samples = scraped(text)
    exported = {key.partition("{")[0] for key in samples}
    for name in PRESENT:
        assert name in exported, f"{name} is not exported"

    checked = 0
    for source, expr in await asyncio.to_thread(expressions):
        for name in metric_names(expr):
            assert name in exported, f"{source}: {name!r} in {expr!r} is not a metric logpipe exports"
            checked += 1
    assert checked > 20
    print(f"\n{len(MOVING)} metrics moved; {checked} metric references in dashboards and alerts all exported")
