"""field.KEY= filters over real HTTP: fields of JSON and logfmt messages and the sender's metadata, per tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.api import call
from tests.support.deadlines import wait_for
from tests.support.rows import query, row_count
from tests.support.tenants import ACME, ADMIN, GLOBEX, as_, secured_worker
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


def at(seconds_ago: int) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat()


ACME_EVENTS: list[dict[str, Any]] = [
    {"message": '{"status": 500, "user": {"id": "u1"}, "msg": "boom"}', "source": "api", "level": "ERROR"},
    {"message": 'status=500 user.id=u2 msg="db down"', "source": "api", "level": "ERROR"},
    {"message": "status=404 path=/missing", "source": "api", "level": "WARN"},
    {"message": '{"status": 200, "user": {"id": "u1"}}', "source": "web", "level": "INFO"},
    {"message": "status 500 in prose", "source": "api", "metadata": {"region": "eu", "http": {"status": 503}}},
    {"message": "retries=3", "source": "worker", "metadata": {"fields": {"queue": "mail"}}},
]


async def messages(http: aiohttp.ClientSession, api: str, params: str, key: str = ACME) -> list[str]:
    status, body, _ = await call(http, "GET", f"{api}/api/v1/logs?{params}", **as_(key))
    assert status == 200, body
    return [event["message"] for event in body["content"]]


async def test_field_filters_find_json_logfmt_and_metadata_fields_of_one_tenant(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    api = (await secured_worker(workers)).url
    acme = [{**event, "timestamp": at(i)} for i, event in enumerate(ACME_EVENTS)]
    assert (await call(http, "POST", f"{api}/api/v1/logs/batch", acme, **as_(ACME)))[0] == 202
    globex = [{"message": "status=500 user.id=u1", "source": "api", "level": "ERROR", "timestamp": at(1)}]
    assert (await call(http, "POST", f"{api}/api/v1/logs/batch", globex, **as_(GLOBEX)))[0] == 202
    await wait_for(lambda: row_count(database_url) == 7, timeout=30, what="7 rows")
    sql = "SELECT metadata FROM logs WHERE message = %s"
    stored = await asyncio.to_thread(query, database_url, sql, ACME_EVENTS[1]["message"])
    assert stored == [({"fields": {"status": "500", "user.id": "u2", "msg": "db down"}},)], "extracted at ingest"

    json_500, logfmt_500, logfmt_404, json_200, prose, mail = (e["message"] for e in ACME_EVENTS)
    assert await messages(http, api, "field.status=500") == [json_500, logfmt_500], "a number and a text alike"
    assert await messages(http, api, "field.status=500,404") == [json_500, logfmt_500, logfmt_404]
    assert await messages(http, api, "field.status=500&field.status=404&level=WARN") == [logfmt_404]
    assert await messages(http, api, "field.user.id=u1") == [json_500, json_200], "nested JSON, flattened"
    assert await messages(http, api, "field.user.id=u1&source=web") == [json_200]
    assert await messages(http, api, "field.user.id=u1&field.status=200") == [json_200], "every key must match"
    assert await messages(http, api, "field.region=eu") == [prose], "the sender's own metadata, top level"
    assert await messages(http, api, "field.http.status=503") == [prose], "and nested"
    assert await messages(http, api, "field.queue=mail") == [mail], "a sender's own fields object"
    assert await messages(http, api, "field.status=418") == []
    assert await messages(http, api, "field.status=500&q=boom") == [json_500], "with full text"

    # Tenancy: globex's u1 never shows for acme, nor acme's for globex; a key of no organization sees both.
    assert await messages(http, api, "field.user.id=u1", GLOBEX) == ["status=500 user.id=u1"]
    assert len(await messages(http, api, "field.status=500", ADMIN)) == 3

    status, body, _ = await call(http, "GET", f"{api}/gateway/api/query/logs?field.status=500&size=1", **as_(ACME))
    assert (status, body["totalElements"], body["totalPages"]) == (200, 2, 2), "counted with the fields too"
    start, end = at(60), (NOW + timedelta(seconds=1)).isoformat()
    histogram = f"{api}/api/v1/logs/histogram?field.status=500&interval=1h"
    status, body, _ = await call(http, "GET", histogram, params={"start": start, "end": end}, **as_(ACME))
    assert status == 200 and sum(bucket["total"] for bucket in body["buckets"]) == 2

    status, body, _ = await call(http, "GET", f"{api}/api/v1/logs?field.a$=1", **as_(ACME))
    assert status == 400 and body["errors"][0] == {
        "field": "field.a$",
        "rule": "key",
        "message": "the key must be dot-separated parts of letters, digits, '_' and '-'",
    }


async def test_the_live_tail_follows_only_what_the_fields_match(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession
) -> None:
    api = (await secured_worker(workers)).url
    seen: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=60)
    async with http.get(f"{api}/api/v1/logs/tail?field.status=500", timeout=timeout, **as_(ACME)) as response:
        assert response.status == 200
        assert (await response.content.readline()).strip() == b": listening"
        batch = [{"message": f"status={status} n={i}", "source": "api"} for i, status in enumerate((200, 500, 404))]
        assert (await call(http, "POST", f"{api}/api/v1/logs/batch", batch, **as_(ACME)))[0] == 202
        async for line in response.content:
            if line.startswith(b"data: "):
                seen.append(orjson.loads(line[6:]))
                break
    assert [event["message"] for event in seen] == ["status=500 n=1"]
