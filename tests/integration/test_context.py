"""An event's context over real HTTP: neighbours of its source and organization, in order, never another tenant's."""

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


async def test_context_around_a_hit(workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession) -> None:
    api = (await secured_worker(workers)).url
    levels = ("INFO", "WARN", "ERROR", "DEBUG")
    acme = [
        {"message": f"acme {i}", "source": "api", "level": levels[i % 4], "timestamp": f"{DAY}T10:00:{i:02d}Z"}
        for i in range(12)
    ]
    others = [
        {"message": "other source", "source": "db", "level": "INFO", "timestamp": f"{DAY}T10:00:05.500Z"},
    ]
    status, body, _ = await call(http, "POST", api + "/api/v1/logs/batch", acme + others, **as_(ACME))
    assert status == 202, body
    ids = body["ids"]
    globex = [{"message": "globex", "source": "api", "level": "INFO", "timestamp": f"{DAY}T10:00:06.500Z"}]
    status, body, _ = await call(http, "POST", api + "/api/v1/logs/batch", globex, **as_(GLOBEX))
    assert status == 202, body
    globex_id = body["ids"][0]
    await wait_for(lambda: row_count(database_url) == 14, timeout=30, what="14 rows")

    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/{ids[6]}/context?before=3&after=2", **as_(ACME))
    assert status == 200, body
    assert [e["message"] for e in body["content"]] == [f"acme {i}" for i in range(3, 9)]
    assert [e["hit"] for e in body["content"]] == [False, False, False, True, False, False]
    assert (body["before"], body["after"], body["id"]) == (3, 2, ids[6])

    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/{ids[1]}/context", **as_(ACME))
    assert [e["message"] for e in body["content"]] == [f"acme {i}" for i in range(12)]  # default 10 each side
    assert (body["before"], body["after"]) == (1, 10)

    # Another organization's event is absent, and never shows up among the neighbours.
    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/{globex_id}/context", **as_(ACME))
    assert (status, body["code"]) == (404, "not_found")
    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/{globex_id}/context", **as_(GLOBEX))
    assert status == 200 and [e["message"] for e in body["content"]] == ["globex"]

    status, body, _ = await call(http, "GET", api + f"/api/v1/logs/{ids[0]}/context?after=501", **as_(ACME))
    assert status == 400 and body["errors"][0]["field"] == "after" and body["errors"][0]["rule"] == "range"
    assert (await call(http, "GET", api + f"/api/v1/logs/{ids[0]}/context"))[0] == 401
