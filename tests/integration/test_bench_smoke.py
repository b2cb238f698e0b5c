"""The benchmark harness keeps working: a tiny run prints every figure and writes the JSON.

A smoke run, not a measurement: `make bench` is where the numbers come from.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.storage.migrate import migrate
from bench.queries import sample_ids, seed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke(tmp_path: Path, postgres_server: Any) -> None:
    out = tmp_path / "bench.json"
    args = [
        sys.executable,
        "-m",
        "bench",
        "--events",
        "2000",
        "--http-events",
        "2000",
        "--ceiling-events",
        "2000",
        "--rungs",
        "50,100",
        "--overload-seconds",
        "1",
        "--e2e-rate",
        "200",
        "--seconds",
        "1",
        "--rows",
        "5000",
        "--repeats",
        "3",
        "--profile",
        "--out",
        str(out),
        "--work-dir",
        str(tmp_path / "work"),  # its broker's and worker's data and logs, not var/bench in the checkout
    ]
    env = {**os.environ, "DATABASE_URL": postgres_server.url.rsplit("/", 1)[0] + "/logpipe_bench"}
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())["summary"]
    assert summary["kafka_path_vs_copy"] > 0
    assert summary["kafka_path_vs_copy_big"] > 0
    assert summary["worker_us_per_event_kafka"] > 0
    assert summary["postgres_us_per_row_big"] > 0
    assert summary["single_post_capacity"] in (50, 100)
    assert summary["context_worst_p95_ms"] > 0
    assert summary["histogram_worst_p95_ms"]["counters"] > 0 and summary["histogram_worst_p95_ms"]["matches"] > 0
    figures = (
        "logs.raw -> rows, empty table",
        "HTTP batches -> rows, empty table",
        "worker CPU per event, logs.raw path",
        "PostgreSQL CPU per row stored",
        "single POST at 1,000/s",
        "one worker's single-POST capacity",
        "overload at 200/s for 1s: answered p99",
        "accepted events stored",
        "end to end at 200 events/s",
        "query worst p95",
        "field filters worst p95",
        "context around a hit worst p95",
        "histogram over 24 h by level, source, organization, worst p95",
        "histogram over 24 h by text or a field, worst p95",
        "stats p99",
        "export: organization",
        "OTLP protobuf batches -> rows",
        "Loki protobuf batches -> rows",
    )
    for figure in figures:
        assert figure in result.stdout
    assert result.stdout.count("logs.raw -> rows, ") == 2  # into the empty table and into the big one
    assert "sizing, from the big table's logs.raw path: to hold 100,000 events/s" in result.stdout
    assert "profile of the worker during kafka_path" in result.stdout


def test_a_small_table_still_gives_the_ids_asked_for(database_url: str) -> None:
    # A 1% block sample of a one-block table is empty 99 times in 100, which left the smoke run's context
    # figure without a single request (NaN).
    asyncio.run(migrate(database_url))
    seed(database_url, 20)
    ids = sample_ids(database_url, 5)
    assert len(set(ids)) == 5
