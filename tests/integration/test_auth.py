"""API keys and tenants over real HTTP: who may do what, and who sees which rows."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import aiohttp
import orjson
import pytest

from app.domain.keys import hash_key
from tests.support.api import call
from tests.support.deadlines import wait_for
from tests.support.rows import row_count
from tests.support.tenants import ACME, ACME_READER, ADMIN, GLOBEX, as_, secured_worker
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration


async def test_keys_roles_and_tenants(workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession) -> None:
    api = (await secured_worker(workers)).url
    event = {"message": "disk almost full", "source": "node-1", "level": "WARN"}

    status, body, headers = await call(http, "POST", api + "/api/v1/logs", event)
    assert (status, body["code"]) == (401, "unauthorized") and "X-API-Key" in body["message"]
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, body, _ = await call(http, "GET", api + "/api/v1/logs", headers={"X-API-Key": "lp_wrong"})
    assert (status, body["message"]) == (401, "the API key is not valid")
    status, body, _ = await call(http, "POST", api + "/api/v1/logs", event, **as_(ACME_READER))
    assert (status, body["code"]) == (403, "forbidden") and "ingest role" in body["message"]
    status, _, _ = await call(http, "GET", api + "/api/v1/dlq", **as_(ACME))
    assert status == 403, "dead letters are for admins"
    assert (await call(http, "GET", api + "/api/v1/dlq", **as_(ADMIN)))[0] == 200

    # Each tenant's events carry its organization, whatever the body says; claiming another is refused.
    acme_ids = []
    for i in range(3):
        status, body, _ = await call(http, "POST", api + "/api/v1/logs", {**event, "message": f"acme {i}"}, **as_(ACME))
        assert status == 202, body
        acme_ids.append(body["id"])
    status, body, _ = await call(http, "POST", api + "/api/v1/logs", {**event, "organizationId": "globex"}, **as_(ACME))
    assert status == 422 and body["errors"][0]["field"] == "organization_id" and body["errors"][0]["rule"] == "tenant"
    batch = [{**event, "message": "globex 0"}, {**event, "message": "globex 1", "organization_id": "globex"}]
    status, body, _ = await call(
        http, "POST", api + "/api/v1/logs/batch", batch, headers={"Authorization": f"Bearer {GLOBEX}"}
    )
    assert (status, body["accepted"]) == (202, 2), body
    globex_ids = body["ids"]
    await wait_for(lambda: row_count(database_url) == 5, timeout=30, what="5 rows")

    # Admin reads first, so a tenant asking the same next would get admin's cached answer if the cache were shared.
    status, body, _ = await call(http, "GET", api + "/api/v1/logs?source=node-1", **as_(ADMIN))
    assert {e["organizationId"] for e in body["content"]} == {"acme", "globex"} and len(body["content"]) == 5
    for key, org, expect in ((ACME_READER, "acme", 3), (GLOBEX, "globex", 2)):
        status, body, _ = await call(http, "GET", api + "/api/v1/logs?source=node-1", **as_(key))
        assert status == 200 and len(body["content"]) == expect, body
        assert {e["organizationId"] for e in body["content"]} == {org}
        status, body, _ = await call(http, "GET", api + "/gateway/api/query/search?q=acme", **as_(key))
        assert body["totalElements"] == (3 if org == "acme" else 0), body
    status, body, _ = await call(http, "GET", api + "/api/v1/logs?organizationId=globex", **as_(ACME))
    assert status == 403 and body["errors"][0]["rule"] == "tenant"

    assert (await call(http, "GET", api + f"/api/v1/logs/{acme_ids[0]}", **as_(ACME_READER)))[0] == 200
    assert (await call(http, "GET", api + f"/api/v1/logs/{globex_ids[0]}", **as_(ACME_READER)))[0] == 404
    assert (await call(http, "GET", api + f"/api/v1/logs/{globex_ids[0]}", **as_(ADMIN)))[0] == 200

    async def stats_total(key: str, path: str = "/api/v1/stats") -> Any:
        status, body, _ = await call(http, "GET", api + path, **as_(key))
        assert status == 200, body
        return body

    async def all_counted() -> bool:
        return bool((await stats_total(ADMIN))["total"] == 5)

    await wait_for(all_counted, timeout=30, what="stats of all 5 events")
    acme = await stats_total(ACME_READER)
    assert (acme["total"], acme["levels"], acme["organizations"]) == (3, {"WARN": 3}, {"acme": 3})
    globex = await stats_total(GLOBEX, "/api/v1/stats?hoursBack=1")
    assert (globex["total"], globex["window"]["total"], globex["organizations"]) == (2, 2, {"globex": 2})
    everyone = await stats_total(ADMIN, "/api/v1/stats?hoursBack=1")
    assert (everyone["total"], everyone["window"]["total"]) == (5, 5)
    print("auth: 401 without/with a wrong key, 403 without the role, 3 + 2 rows kept apart by tenant")


def test_auth_on_without_keys_refuses_to_start(workers: WorkerFactory) -> None:
    worker = workers.make(AUTH_ENABLED="true")
    worker.start(wait_ready=False)
    assert worker.process is not None
    try:
        worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a worker with auth on and no keys kept running:\n{worker.log_tail()}")
    assert worker.process.returncode != 0
    assert "no API key is configured" in worker.log_tail(200)


def test_keys_new_prints_a_key_and_an_entry_that_admits_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "new", "--org", "acme", "--role", "ingest", "--role", "query"],
        capture_output=True,
        text=True,
        check=True,
    )
    key, entry = done.stdout.splitlines()
    assert orjson.loads(entry) == {hash_key(key): {"organization": "acme", "roles": ["ingest", "query"]}}
    assert "shown once" in done.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "new", "--role", "query"], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "admin role" in refused.stderr
