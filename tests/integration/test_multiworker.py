"""Several workers share the partitions; stats are exact whichever one answers.

On the dev broker (tansu), which holds a group of several members and
evicts a SIGKILLed one after its session timeout, as Kafka does.
"""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import orjson
import pytest

from app.web.stats_views import FORWARD_TIMEOUT
from tests.support.deadlines import wait_for
from tests.support.events import good_event
from tests.support.groups import ALL, owned, owns_all, start_group
from tests.support.kafka import produce, wait_drained
from tests.support.rows import query, row_count
from tests.support.stats import stats_match_rows, stats_of
from tests.support.workers import Worker, WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.multiworker]


async def post_batches(urls: list[str], events: int, batch: int = 100) -> None:
    async with aiohttp.ClientSession() as http:
        for n, start in enumerate(range(0, events, batch)):
            body = [orjson.loads(good_event(i)) | {"source": "http"} for i in range(start, start + batch)]
            async with http.post(f"{urls[n % len(urls)]}/api/v1/logs/batch", data=orjson.dumps(body)) as response:
                assert response.status == 202, await response.text()


async def test_two_workers_split_partitions_and_agree(workers: WorkerFactory, database_url: str) -> None:
    (a, b), took = await start_group(workers, 2)
    print(f"\nsplit after {took:.1f}s: {a.name} owns {await owned(a)}, {b.name} owns {await owned(b)} of logs.events")

    await asyncio.gather(
        produce(workers.bootstrap, "logs.raw", [good_event(i) for i in range(5000)]),
        post_batches([a.url, b.url], 5000),
    )
    await wait_for(lambda: row_count(database_url) >= 10_000, timeout=120, what="10,000 rows")
    await wait_drained(workers.bootstrap, workers.app_id)
    distinct = "SELECT count(*), count(DISTINCT id) FROM logs"
    assert await asyncio.to_thread(query, database_url, distinct) == [(10_000, 10_000)]
    await wait_for(lambda: stats_match_rows(a, database_url, must_answer=True), timeout=60, what="stats = PostgreSQL")
    assert await stats_of(a) == await stats_of(b), "both workers answer the same stats"
    for path in ("/api/v1/logs/stats", "/gateway/api/query/stats"):
        assert (await a.fetch(path))[1]["total"] == (await b.fetch(path))[1]["total"] == 10_000
    print(f"10,000 rows; stats identical and exact on both: {(await stats_of(b))['levels']}")


async def test_killed_worker_partitions_are_taken_over(workers: WorkerFactory, database_url: str) -> None:
    (survivor, victim), _ = await start_group(workers, 2)
    events = 6000

    async def flow() -> None:
        for start in range(0, events, 300):
            await produce(workers.bootstrap, "logs.raw", [good_event(i) for i in range(start, start + 300)])

    producing = asyncio.create_task(flow())
    await wait_for(lambda: row_count(database_url) >= 1000, timeout=90, what="the first 1,000 rows")
    await asyncio.to_thread(victim.kill)
    killed_at = time.monotonic()
    await producing
    took = await wait_for(
        lambda: owns_all(survivor, "logs.events", "logs.raw"),
        timeout=120,
        what="the survivor to own every partition",
    )
    await wait_for(lambda: row_count(database_url) >= events, timeout=120, what=f"{events} rows")
    await wait_drained(workers.bootstrap, workers.app_id)
    distinct = "SELECT count(*), count(DISTINCT message) FROM logs"
    assert await asyncio.to_thread(query, database_url, distinct) == [(events, events)]
    await wait_for(
        lambda: stats_match_rows(survivor, database_url, must_answer=True),
        timeout=60,
        what="stats = PostgreSQL on the survivor",
    )
    print(f"\ntakeover {took:.1f}s after SIGKILL; all {events} rows {time.monotonic() - killed_at:.1f}s after; exact")


async def test_a_worker_joining_later_gets_partitions(workers: WorkerFactory, database_url: str) -> None:
    (first, second), _ = await start_group(workers, 2)
    await produce(workers.bootstrap, "logs.raw", [good_event(i) for i in range(2000)])
    await wait_for(lambda: row_count(database_url) >= 2000, timeout=90, what="2,000 rows")

    third = await workers.start("w2")
    everyone = [first, second, third]

    async def rebalanced() -> bool:
        # Faust's sticky assignor caps a worker at ceil(4/3) = 2 partitions of a topic and moves
        # none off a worker that is not over that cap: with 2 + 2 already placed, the newcomer
        # gets logs.raw (validate group) partitions and standby replicas, and logs.events stays.
        raw = [await owned(w, "logs.raw") for w in everyone]
        events = sorted([p for w in everyone for p in await owned(w)])
        split = all(raw) and sorted(p for share in raw for p in share) == ALL and events == ALL
        # Ready too: /ready answers 200 only once a worker knows where the count table lives, so a
        # newcomer that got its partitions may still answer stats 503 "rebalancing" until then.
        return split and all([(await w.fetch("/ready"))[0] == 200 for w in everyone])

    took = await wait_for(rebalanced, timeout=90, what="the third worker to get partitions and every worker ready")
    await produce(workers.bootstrap, "logs.raw", [good_event(i) for i in range(2000, 3000)])
    await wait_for(lambda: row_count(database_url) >= 3000, timeout=90, what="3,000 rows")
    await wait_drained(workers.bootstrap, workers.app_id)
    await wait_for(
        lambda: stats_match_rows(third, database_url, must_answer=True),
        timeout=60,
        what="stats = PostgreSQL on the newcomer",
    )
    assert await stats_of(first) == await stats_of(second) == await stats_of(third)
    shares = {w.name: (await owned(w, "logs.raw"), await owned(w)) for w in everyone}
    print(f"\nthird worker in after {took:.1f}s; (logs.raw, logs.events) shares {shares}; stats agree on all three")


async def count_owner_and_other(workers: WorkerFactory) -> tuple[Worker, Worker]:
    """Two workers that split the partitions: the one holding the count table, then the other."""
    group, _ = await start_group(workers, 2)
    first_holds = bool(await owned(group[0], "logs.counts"))
    return (group[0], group[1]) if first_holds else (group[1], group[0])


async def test_stats_answer_503_not_500_while_the_killed_owner_of_the_counts_is_not_yet_evicted(
    workers: WorkerFactory,
) -> None:
    owner, other = await count_owner_and_other(workers)
    assert (await other.fetch("/api/v1/stats"))[0] == 200, "forwarded to the owner while it lives"

    await asyncio.to_thread(owner.kill)
    answers: list[tuple[int, str | None, str | None]] = []

    async def answered_again() -> bool:
        async with aiohttp.ClientSession() as http, http.get(other.url + "/api/v1/stats") as response:
            body = orjson.loads(await response.read())
            answers.append((response.status, body.get("code"), response.headers.get("Retry-After")))
        return response.status == 200

    await wait_for(answered_again, timeout=90, what="stats from the survivor", interval=0.2)
    refused = {answer for answer in answers if answer[0] != 200}
    assert refused == {(503, "stats_unavailable", "1")}, answers
    print(f"\n{len(answers) - 1} answers 503 stats_unavailable with Retry-After, then 200 from the survivor")


async def test_stats_answer_503_in_time_while_the_owner_of_the_counts_answers_nothing(
    workers: WorkerFactory,
) -> None:
    """A stopped owner (as one behind a silent network) accepts the connection and never answers."""
    owner, other = await count_owner_and_other(workers)
    assert owner.process is not None
    owner.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, body = await other.fetch("/api/v1/stats", timeout=30)
        took = time.monotonic() - started
    finally:
        owner.process.send_signal(signal.SIGCONT)
    assert (status, body["code"]) == (503, "stats_unavailable") and took < FORWARD_TIMEOUT + 3, (status, body, took)
    await wait_for(lambda: stats_match_rows(other, workers.database_url), timeout=60, what="stats once it answers")
    print(f"\n503 stats_unavailable after {took:.1f}s while the owner was stopped; 200 again once it went on")
