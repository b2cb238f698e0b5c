"""SIGKILL the worker again and again while events flow in over HTTP and logs.raw.

Every event a client got a 202 for, and every record on logs.raw, must end
in PostgreSQL exactly once, and the stats must equal PostgreSQL. The HTTP
client behaves like a careful production client: it names its events (``id``)
and resends a batch until it gets a 202, so a batch whose answer was lost
in a kill is stored once, not twice.

``make test`` runs a short version (``CHAOS_KILLS=3``, ``CHAOS_EVENTS=10000``);
``make chaos`` the long one (10 kills, 50,000 events). A second test kills
one of two workers twice and starts it again while events flow. On the dev broker
(tansu), which evicts a member that died without leaving, as Kafka does.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid

import aiohttp
import orjson
import pytest

from tests.support.deadlines import wait_for
from tests.support.events import good_event
from tests.support.groups import owns_all, split_between, start_group
from tests.support.kafka import produce, wait_drained
from tests.support.rows import query, row_count
from tests.support.stats import stats_match_rows
from tests.support.workers import Worker, WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.multiworker]
KILLS = int(os.environ.get("CHAOS_KILLS", "3"))
EVENTS = int(os.environ.get("CHAOS_EVENTS", "10000"))
HTTP_BATCH = 100


@pytest.mark.timeout(600 + 120 * KILLS)
async def test_sigkill_again_and_again_loses_and_duplicates_nothing(workers: WorkerFactory, database_url: str) -> None:
    seed = int(os.environ.get("CHAOS_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    bootstrap = workers.bootstrap
    worker = await workers.start("victim")
    raw_total = EVENTS // 2
    http_total = EVENTS - raw_total
    # The events are spread over `duration` seconds and the kills fall at random moments inside it.
    duration = 6.0 * KILLS + 4.0
    kill_at = sorted(rng.uniform(1.0, duration - 2.0) for _ in range(KILLS))
    kills: list[float] = []
    http_retries = 0
    started = time.monotonic()

    async def until(offset: float) -> None:
        await asyncio.sleep(max(0.0, started + offset - time.monotonic()))

    async def kill_again_and_again() -> None:
        for moment in kill_at:
            await until(moment)
            await asyncio.to_thread(worker.kill)
            kills.append(time.monotonic() - started)
            await asyncio.to_thread(worker.start)

    async def send_over_http(session: aiohttp.ClientSession) -> None:
        nonlocal http_retries
        for start in range(0, http_total, HTTP_BATCH):
            await until(duration * start / http_total)
            batch = [
                {"id": str(uuid.uuid4()), "message": f"http {i}", "source": "chaos-http", "level": "INFO"}
                for i in range(start, min(start + HTTP_BATCH, http_total))
            ]
            body = orjson.dumps(batch)
            while True:
                try:
                    async with session.post(worker.url + "/api/v1/logs/batch", data=body) as response:
                        if response.status == 202:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                http_retries += 1
                await asyncio.sleep(0.2)

    async def produce_raw() -> None:
        chunk = 250
        for start in range(0, raw_total, chunk):
            await until(duration * start / raw_total)
            await produce(bootstrap, "logs.raw", [good_event(i) for i in range(start, min(start + chunk, raw_total))])

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        killer = asyncio.create_task(kill_again_and_again())
        await asyncio.gather(send_over_http(session), produce_raw())
        await killer
    sent = time.monotonic() - started

    await wait_for(lambda: row_count(database_url) >= EVENTS, timeout=240, what=f"{EVENTS} rows after the kills")
    await wait_drained(bootstrap, workers.app_id, timeout=120)
    (rows, ids), *_ = await asyncio.to_thread(query, database_url, "SELECT count(*), count(DISTINCT id) FROM logs")
    (raw_rows, raw_messages), *_ = await asyncio.to_thread(
        query, database_url, "SELECT count(*), count(DISTINCT message) FROM logs WHERE source <> 'chaos-http'"
    )
    (http_rows,), *_ = await asyncio.to_thread(
        query, database_url, "SELECT count(*) FROM logs WHERE source = 'chaos-http'"
    )
    assert (rows, ids) == (EVENTS, EVENTS), f"seed {seed}: {rows} rows, {ids} ids, {EVENTS} sent"
    assert (raw_rows, raw_messages, http_rows) == (raw_total, raw_total, http_total)
    await wait_for(lambda: stats_match_rows(_alive(worker), database_url), timeout=60, what="stats = PostgreSQL")
    print(
        f"\nchaos (seed {seed}): {len(kills)} SIGKILLs at {', '.join(f'{k:.1f}' for k in kills)} s "
        f"of {sent:.0f}s while {raw_total:,} records went to "
        f"logs.raw and {http_total:,} events over HTTP ({http_retries} resends while the worker was down); "
        f"{rows:,} rows, {ids:,} distinct ids: nothing lost, nothing twice; stats = PostgreSQL"
    )


def _alive(worker: Worker) -> Worker:
    assert worker.process is not None and worker.process.poll() is None, "the worker died on its own"
    return worker


async def test_a_worker_killed_and_restarted_twice_loses_nothing(workers: WorkerFactory, database_url: str) -> None:
    """Each kill and each return rebalances the survivor too, while events flow: every one is stored once.

    Checked per event, after the pipeline drained: an event whose offset was
    committed without its row is named. The first kill falls within seconds
    of the start, before the survivor committed anything (a partition with
    no committed offset must be read again from its start: app.kafka.offsets), and
    the rebalances fall inside fetches and batches (records fetched before a
    seek must not move the read offset past it: app.kafka.drain).
    """
    (survivor, victim), _ = await start_group(workers, 2)
    events = 8000
    flowing = True

    async def flow() -> int:
        sent = 0
        while flowing or sent < events:
            await produce(workers.bootstrap, "logs.raw", [good_event(i) for i in range(sent, sent + 100)])
            sent += 100
            await asyncio.sleep(0.05)  # a steady flow, so rebalances fall between and inside batches
        return sent

    producing = asyncio.create_task(flow())
    for _ in range(2):
        await wait_for(lambda: split_between([survivor, victim]), timeout=120, what="the two workers to split")
        await asyncio.to_thread(victim.kill)
        await wait_for(lambda: owns_all(survivor), timeout=120, what="the survivor to own every partition")
        await asyncio.to_thread(victim.start)
    await wait_for(lambda: split_between([survivor, victim]), timeout=120, what="the two workers to split again")
    flowing = False
    sent = await producing
    await wait_drained(workers.bootstrap, workers.app_id, timeout=180)
    stored = {m for (m,) in await asyncio.to_thread(query, database_url, "SELECT message FROM logs")}
    missing = sorted(i for i in range(sent) if f"event {i}" not in stored)
    assert not missing, f"{len(missing)} of {sent} committed but not stored: events {missing[:20]}"
    distinct = "SELECT count(*), count(DISTINCT message) FROM logs"
    assert await asyncio.to_thread(query, database_url, distinct) == [(sent, sent)]
    await wait_for(
        lambda: stats_match_rows(survivor, database_url, must_answer=True), timeout=60, what="stats = PostgreSQL"
    )
    print(f"\n{sent} events through two kills and two returns: every one stored once; stats exact")
