"""One trace spans HTTP ingest → produce → persist, and the stored event carries its id.

The worker is a separate process, so its spans are read from the SDK's
console exporter writing to a file (``TRACING_EXPORTER=file:PATH``) rather
than from an in-memory exporter in this process.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.deadlines import wait_for
from tests.support.rows import query
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration


def spans_of(path: Path, trace_id: str) -> list[dict[str, Any]]:
    """The spans of one trace the worker exported so far (reads a file: from async code, in a thread)."""
    if not path.exists():
        return []
    spans = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [s for s in spans if s["context"]["trace_id"] == "0x" + trace_id]


async def post(url: str, body: dict[str, Any], traceparent: str) -> str:
    async with aiohttp.ClientSession() as http:
        headers = {"traceparent": traceparent}
        async with http.post(f"{url}/api/v1/logs", data=orjson.dumps(body), headers=headers) as response:
            assert response.status == 202
            event_id: str = (await response.json())["id"]
            return event_id


async def test_one_trace_from_ingest_to_persist(workers: WorkerFactory, database_url: str, tmp_path: Path) -> None:
    spans_file = tmp_path / "spans.jsonl"
    worker = await workers.start(TRACING="true", TRACING_EXPORTER=f"file:{spans_file}")
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    event_id = await post(worker.url, {"message": "traced", "source": "t"}, f"00-{trace_id}-{parent_id}-01")

    await wait_for(
        lambda: query(database_url, "SELECT trace_id FROM logs WHERE id = %s", event_id) == [(trace_id,)],
        timeout=30,
        what="the event stored with the trace's id",
    )
    await wait_for(lambda: len(spans_of(spans_file, trace_id)) >= 3, timeout=30, what="three spans exported")
    spans = {s["name"]: s for s in await asyncio.to_thread(spans_of, spans_file, trace_id)}
    server, produce, persist = spans["POST /api/v1/logs"], spans["produce logs.events"], spans["persist logs.events"]
    assert server["parent_id"] == "0x" + parent_id, "the request's traceparent is continued"
    assert produce["parent_id"] == server["context"]["span_id"]
    assert persist["parent_id"] == produce["context"]["span_id"], "the context crossed Kafka in record headers"
    assert (server["kind"], produce["kind"], persist["kind"]) == (
        "SpanKind.SERVER",
        "SpanKind.PRODUCER",
        "SpanKind.CONSUMER",
    )
    print(f"\ntrace {trace_id}: {' -> '.join(spans)}")


async def test_trace_id_taken_from_traceparent_with_tracing_off(workers: WorkerFactory, database_url: str) -> None:
    worker = await workers.start()
    trace_id = secrets.token_hex(16)
    event_id = await post(
        worker.url, {"message": "untraced", "source": "t"}, f"00-{trace_id}-{secrets.token_hex(8)}-01"
    )
    own = await post(
        worker.url, {"message": "own id", "source": "t", "traceId": "mine"}, f"00-{trace_id}-{'1' * 16}-01"
    )
    await wait_for(lambda: query(database_url, "SELECT count(*) FROM logs")[0][0] == 2, timeout=30, what="2 rows")
    trace_of = "SELECT trace_id FROM logs WHERE id = %s"
    assert await asyncio.to_thread(query, database_url, trace_of, event_id) == [(trace_id,)]
    assert await asyncio.to_thread(query, database_url, trace_of, own) == [("mine",)]
