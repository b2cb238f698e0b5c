"""Live tail over SSE: new events matching the filters arrive; a slow client is dropped, not waited for."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest

from tests.support.api import metric
from tests.support.deadlines import wait_for
from tests.support.kafka import wait_drained
from tests.support.rows import row_count
from tests.support.workers import Worker, WorkerFactory

pytestmark = pytest.mark.integration


async def post(url: str, events: list[dict[str, str]]) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/v1/logs/batch", data=orjson.dumps(events)) as r:
        assert r.status == 202, await r.text()


async def test_tail_gets_new_matching_events(workers: WorkerFactory) -> None:
    worker = await workers.start()
    received: list[dict[str, str]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{worker.url}/api/v1/logs/tail?level=ERROR&source=api") as tail,
    ):
        assert tail.status == 200 and tail.headers["Content-Type"].startswith("text/event-stream")
        assert (await asyncio.wait_for(tail.content.readline(), 15)).startswith(b": listening")
        started = time.monotonic()
        await post(
            worker.url,
            [
                {"level": "INFO", "message": "not an error", "source": "api"},
                {"level": "ERROR", "message": "another source", "source": "db"},
                {"level": "ERROR", "message": "wanted", "source": "api"},
            ],
        )
        while not received:
            line = await asyncio.wait_for(tail.content.readline(), 10)
            if line.startswith(b"data: "):
                received.append(orjson.loads(line[6:]))
        took = time.monotonic() - started
    assert [e["message"] for e in received] == ["wanted"]
    print(f"\ntail delivered the matching event {took * 1000:.0f} ms after the POST")


async def moved(worker: Worker, sample: str) -> bool:
    """Whether the sample is exported and not 0."""
    async with aiohttp.ClientSession() as http:
        return bool(await metric(http, worker.url, sample))


async def test_a_slow_tail_client_is_dropped_without_slowing_the_pipeline(
    workers: WorkerFactory, broker: str, database_url: str
) -> None:
    worker = await workers.start(TAIL_QUEUE_SIZE="50")
    address = urlsplit(worker.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(f"GET /api/v1/logs/tail HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
    await writer.drain()
    await wait_for(lambda: moved(worker, "logpipe_tail_clients"), timeout=10, what="the tail client connected")

    events = 40_000  # more than the socket buffers hold, so the stream stalls while the client does not read
    for start in range(0, events, 2000):
        await post(
            worker.url, [{"message": f"flood {i} " + "x" * 200, "source": "flood"} for i in range(start, start + 2000)]
        )
    await wait_for(lambda: moved(worker, "logpipe_tail_dropped_total"), timeout=60, what="the slow client dropped")
    waited = await wait_for(lambda: row_count(database_url) == events, timeout=120, what="every event stored")
    await wait_drained(broker, workers.app_id)

    # Reading again lets the server finish: its last message says why the stream ends.
    tail_end = b""
    deadline = time.monotonic() + 30
    while b"event: dropped" not in tail_end and time.monotonic() < deadline:
        chunk = await asyncio.wait_for(reader.read(1 << 20), 30)
        if not chunk:
            break
        tail_end = (tail_end + chunk)[-4096:]
    writer.close()
    assert b"event: dropped" in tail_end
    print(f"\nslow client dropped; all {events} rows stored ({waited:.1f}s after the last POST); lag drained")


async def test_logpipe_tail_prints_new_matching_events(workers: WorkerFactory) -> None:
    worker = await workers.start()
    args = ["-m", "app.cli", "tail", "--level", "ERROR", "--source", "api", "--url", worker.url]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=worker.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        line = await asyncio.wait_for(proc.stderr.readline(), 20)
        assert b"following" in line, "printed once the server says it is listening"
        await post(
            worker.url,
            [
                {"level": "INFO", "message": "no", "source": "api"},
                {"level": "ERROR", "message": "printed", "source": "api"},
            ],
        )
        printed = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"ERROR api: printed" in printed
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def test_a_stopping_worker_ends_its_tails_at_once(workers: WorkerFactory) -> None:
    """A live tail never ends by itself; a worker asked to stop ends it rather than wait for the client."""
    worker = await workers.start()
    assert worker.process is not None
    async with aiohttp.ClientSession() as http, http.get(f"{worker.url}/api/v1/logs/tail") as tail:
        assert (await asyncio.wait_for(tail.content.readline(), 15)).startswith(b": listening")
        asked = time.monotonic()
        worker.process.terminate()
        with contextlib.suppress(aiohttp.ClientPayloadError):  # ended with the connection, or cleanly
            while await asyncio.wait_for(tail.content.readline(), 5):
                pass
        ended = time.monotonic() - asked
    await asyncio.to_thread(worker.process.wait, 10)
    stopped = time.monotonic() - asked
    assert ended < 5
    print(f"\nthe tail ended {ended * 1000:.0f} ms after the worker was asked to stop; it exited after {stopped:.1f}s")
