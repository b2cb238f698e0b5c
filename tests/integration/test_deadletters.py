"""Dead letters: listed with their reason, fixed and replayed once, replaying twice adds nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support.deadlines import wait_for
from tests.support.events import good_event
from tests.support.kafka import produce, wait_drained
from tests.support.rows import query, row_count
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration


async def get(url: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def replay(url: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/v1/dlq/replay", data=orjson.dumps(body)) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_list_fix_replay_once(workers: WorkerFactory, broker: str, database_url: str) -> None:
    worker = await workers.start()
    loud = orjson.dumps({"message": "disk full", "source": "ops", "level": "LOUD"})
    await produce(broker, "logs.raw", [good_event(1), loud, b"\xff\xfe binary", good_event(2)])

    async def listed() -> bool:
        return len((await get(f"{worker.url}/api/v1/dlq"))["content"]) == 2

    await wait_for(listed, timeout=60, what="2 dead letters listed")
    (letter,) = (await get(f"{worker.url}/api/v1/dlq?reason=invalid"))["content"]
    assert letter["reason"] == "invalid" and "level" in letter["detail"]
    assert letter["value"] == {"encoding": "utf-8", "value": loud.decode()}
    assert letter["source"]["topic"] == "logs.raw" and letter["source"]["offset"] >= 0
    (binary,) = (await get(f"{worker.url}/api/v1/dlq?reason=bad_utf8"))["content"]
    assert binary["value"]["encoding"] == "base64"

    refused = await replay(worker.url, {"ids": [letter["id"]]})
    assert (refused["replayed"], refused["failed"]) == (0, 1), "still invalid without a fix"
    fixed = await replay(worker.url, {"ids": [letter["id"]], "patch": {"level": "WARN"}})
    assert (fixed["selected"], fixed["replayed"], fixed["failed"]) == (1, 1, 0)
    await wait_for(lambda: row_count(database_url) == 3, timeout=60, what="the fixed event stored")
    again = await replay(worker.url, {"reason": "invalid", "patch": {"level": "WARN"}})
    assert again["replayed"] == 1
    await wait_drained(broker, workers.app_id)
    levels = "SELECT level, count(*) FROM logs WHERE message = 'disk full' GROUP BY level"
    assert await asyncio.to_thread(query, database_url, levels) == [("WARN", 1)]
    assert await asyncio.to_thread(row_count, database_url) == 3
    (shown,) = (await get(f"{worker.url}/api/v1/dlq?reason=invalid"))["content"]
    assert shown["replay_count"] == 2 and shown["replayed_at"]


async def test_replay_needs_a_selector(workers: WorkerFactory) -> None:
    worker = await workers.start()
    async with aiohttp.ClientSession() as http, http.post(f"{worker.url}/api/v1/dlq/replay", data=b"{}") as r:
        assert r.status == 400
        assert (await r.json())["errors"][0]["rule"] == "selector"


async def test_dlq_from_the_command_line(workers: WorkerFactory, broker: str, database_url: str) -> None:
    worker = await workers.start()
    await produce(broker, "logs.raw", [orjson.dumps({"message": "", "source": "cli"})])

    def logpipe(*args: str) -> subprocess.CompletedProcess[str]:
        """Run the command (blocking: a plain ``wait_for`` condition runs it in a thread)."""
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args, "--url", worker.url],
            env=worker.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    await wait_for(lambda: "message: must not be empty" in logpipe("dlq", "list").stdout, timeout=60, what="listed")
    letter_id = (await asyncio.to_thread(logpipe, "dlq", "list", "--reason", "invalid")).stdout.split()[0]
    replayed = await asyncio.to_thread(logpipe, "dlq", "replay", "--id", letter_id, "--patch", '{"message": "fixed"}')
    assert "1 replayed, 0 failed again" in replayed.stdout, replayed.stderr
    await wait_for(lambda: query(database_url, "SELECT message FROM logs") == [("fixed",)], timeout=60, what="row")
    again = await asyncio.to_thread(logpipe, "dlq", "replay", "--reason", "invalid", "--patch", '{"message": "fixed"}')
    assert "selected 1: 1 replayed, 0 failed again" in again.stdout, again.stderr
    await wait_drained(broker, workers.app_id)
    messages = await asyncio.to_thread(query, database_url, "SELECT message FROM logs")
    assert messages == [("fixed",)], "replaying again adds nothing"
