"""The benchmark harness keeps working: a tiny run prints every figure and writes the JSON.

A smoke run, not a measurement: `make bench` is where the numbers come from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
        "--rate",
        "100",
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
    assert set(summary) == {
        "kafka_path_events_per_s",
        "kafka_path_vs_copy",
        "http_batch_events_per_s",
        "otlp_batch_events_per_s",
        "loki_batch_events_per_s",
        "single_post_p99_ms",
        "e2e_p99_ms",
        "query_worst_p95_ms",
        "field_filter_worst_p95_ms",
        "export_rows_per_s",
        "stats_p99_ms",
        "worker_rss_mb",
    }
    assert all(value > 0 for value in summary.values())
    figures = ("logs.raw -> PostgreSQL", "HTTP batch -> PostgreSQL", "single POST", "end to end", "worker RSS")
    shippers = ("OTLP protobuf batch -> PostgreSQL", "Loki protobuf batch -> PostgreSQL")
    for figure in (*figures, *shippers, "field filters: worst p95", "export: organization"):
        assert figure in result.stdout
    assert "profile of the worker during kafka_path" in result.stdout or "profile of kafka_path" in result.stdout
