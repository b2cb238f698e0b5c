"""The histogram over real HTTP: counts per bucket and level from PostgreSQL, filtered, per tenant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from tests.support.api import call
from tests.support.deadlines import wait_for
from tests.support.rows import row_count
from tests.support.tenants import ACME, GLOBEX, as_, secured_worker
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
DAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()  # within RETENTION_DAYS, as ingest requires
RANGE = f"start={DAY}T10:00:00Z&end={DAY}T10:59:59Z"


async def test_histogram_counts_per_bucket_and_level(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    api = (await secured_worker(workers)).url
    acme = [
        {
            "message": f"m {i}",
            "source": "api",
            "level": "ERROR" if i % 3 == 0 else "INFO",
            "timestamp": f"{DAY}T10:{i * 5:02d}:00Z",
        }
        for i in range(12)
    ]
    assert (await call(http, "POST", api + "/api/v1/logs/batch", acme, **as_(ACME)))[0] == 202
    globex = [{"message": "g", "source": "api", "level": "WARN", "timestamp": f"{DAY}T10:00:30Z"}]
    assert (await call(http, "POST", api + "/api/v1/logs/batch", globex, **as_(GLOBEX)))[0] == 202
    await wait_for(lambda: row_count(database_url) == 13, timeout=30, what="13 rows")

    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/histogram?{RANGE}&interval=15m", **as_(ACME))
    assert status == 200, body
    assert body["interval_seconds"] == 900 and len(body["buckets"]) == 4
    assert [b["total"] for b in body["buckets"]] == [3, 3, 3, 3]
    assert body["buckets"][0]["levels"] == {"ERROR": 1, "INFO": 2}  # never globex's WARN

    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/histogram?{RANGE}&level=ERROR", **as_(ACME))
    assert body["interval_seconds"] == 60 and sum(b["total"] for b in body["buckets"]) == 4
    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/histogram?{RANGE}&interval=1h", **as_(GLOBEX))
    assert [b["levels"] for b in body["buckets"]] == [{"WARN": 1}]

    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/histogram?{RANGE}&interval=5x", **as_(ACME))
    assert status == 400 and body["errors"][0]["field"] == "interval" and body["errors"][0]["rule"] == "format"
    status, body, _ = await call(http, "GET", api + "/api/v1/logs/histogram?organization_id=globex", **as_(ACME))
    assert status == 403 and body["errors"][0]["rule"] == "tenant"
