"""logs.raw → PostgreSQL or logs.dlq, through a real broker, PostgreSQL and worker."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import orjson
import pytest

from tests.support.deadlines import wait_for
from tests.support.events import good_event, malformed
from tests.support.kafka import produce, read_all, wait_drained
from tests.support.rows import query, row_count
from tests.support.stats import stats_match_rows
from tests.support.tcpproxy import proxied_url
from tests.support.workers import SUPPORTED_STORES, WorkerFactory

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("store", SUPPORTED_STORES, indirect=True)
async def test_raw_records_become_rows_or_dead_letters(workers: WorkerFactory, broker: str, database_url: str) -> None:
    worker = await workers.start()
    good = [good_event(i) for i in range(2000)]
    bad = malformed(200)
    mixed = [v for pair in itertools.zip_longest(good, bad) for v in pair if v is not None]
    await produce(broker, "logs.raw", mixed)

    waited = await wait_for(lambda: row_count(database_url) >= 2000, timeout=90, what="2,000 rows")
    await wait_drained(broker, workers.app_id)
    assert await asyncio.to_thread(row_count, database_url) == 2000

    letters = await read_all(broker, "logs.dlq", expect=200)
    reasons: dict[str, int] = {}
    for letter in letters:
        assert {"error", "error_detail", "source_topic", "source_offset", "failed_at"} <= letter.headers.keys()
        reasons[letter.headers["error"].decode()] = reasons.get(letter.headers["error"].decode(), 0) + 1
    assert len(letters) == 200
    assert sorted(letter.value for letter in letters) == sorted(bad), "dead letters keep the original bytes"
    assert {"too_large", "not_json", "bad_utf8", "invalid", "not_object"} <= reasons.keys()

    await wait_for(lambda: stats_match_rows(worker, database_url), timeout=30, what="stats = rows")
    print(f"\n2,000 rows in {waited:.1f}s; dead letters by reason: {reasons}")


async def test_same_event_id_twice_is_one_row(workers: WorkerFactory, broker: str, database_url: str) -> None:
    await workers.start()
    event_id = str(uuid.uuid4())
    twins = [good_event(0, id=event_id), good_event(1, id=event_id)]
    await produce(broker, "logs.raw", [*twins, *(good_event(i) for i in range(2, 12))])
    await wait_for(lambda: row_count(database_url) >= 11, timeout=60, what="11 rows")
    await wait_drained(broker, workers.app_id)
    assert await asyncio.to_thread(query, database_url, "SELECT count(*) FROM logs WHERE id = %s", event_id) == [(1,)]
    assert await asyncio.to_thread(row_count, database_url) == 11


async def test_postgres_outage_loses_and_duplicates_nothing(
    workers: WorkerFactory, broker: str, database_url: str
) -> None:
    with proxied_url(database_url, 5432) as (proxied, proxy):
        worker = await workers.ready(DATABASE_URL=proxied)

        async def postgres_down() -> bool:
            return bool((await worker.fetch("/ready"))[1]["checks"]["postgres"]["status"] == "down")

        await proxy.cut()
        await produce(broker, "logs.raw", [good_event(i) for i in range(1000)])
        await wait_for(postgres_down, timeout=30, what="/ready to report PostgreSQL down")
        assert await asyncio.to_thread(row_count, database_url) == 0

        await proxy.restore()
        waited = await wait_for(
            lambda: row_count(database_url) >= 1000, timeout=90, what="1,000 rows after PostgreSQL returned"
        )
        await wait_drained(broker, workers.app_id)
        distinct = "SELECT count(*), count(DISTINCT message) FROM logs"
        assert await asyncio.to_thread(query, database_url, distinct) == [(1000, 1000)]
        await wait_for(lambda: stats_match_rows(worker, database_url), timeout=30, what="stats = rows")
        print(f"\nall 1,000 rows {waited:.1f}s after PostgreSQL came back, none twice")


async def test_a_row_postgres_refuses_is_dead_lettered_and_the_rest_stored(
    workers: WorkerFactory, broker: str, database_url: str
) -> None:
    await workers.start()
    poison = orjson.dumps({"message": "poison", "source": "p", "metadata": {"note": "nul \u0000 inside"}})
    await produce(
        broker, "logs.raw", [*(good_event(i) for i in range(100)), poison, *(good_event(i) for i in range(100, 200))]
    )
    await wait_for(lambda: row_count(database_url) >= 200, timeout=60, what="200 rows")
    await wait_drained(broker, workers.app_id)
    assert await asyncio.to_thread(row_count, database_url) == 200
    (letter,) = await read_all(broker, "logs.dlq", expect=1)
    assert letter.headers["error"] == b"rejected_by_database"
    assert letter.headers["source_topic"] == b"logs.events"
    assert orjson.loads(letter.value)["message"] == "poison"
    print(f"\npoison row dead-lettered: {letter.headers['error_detail'].decode()[:80]}")
