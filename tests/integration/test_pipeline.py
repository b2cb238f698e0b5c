"""logs.raw → PostgreSQL or logs.dlq, through a real broker, PostgreSQL and worker."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import psycopg2
import pytest

from tests.support.kafka import produce, read_all, wait_drained, wait_for
from tests.support.tcpproxy import proxied_url
from tests.support.workers import Worker, WorkerFactory

pytestmark = pytest.mark.integration
LEVELS = ["INFO", "warning", "ERROR", "debug", "critical", "TRACE"]


def good_event(i: int, **extra: Any) -> bytes:
    return orjson.dumps({"level": LEVELS[i % len(LEVELS)], "message": f"event {i}", "source": f"svc-{i % 7}", **extra})


def malformed(n: int) -> list[bytes]:
    kinds: list[Callable[[int], bytes]] = [
        lambda i: b"not json {" + str(i).encode(),
        lambda i: b"\xff\xfe\xfd invalid utf-8 " + str(i).encode(),
        lambda i: orjson.dumps({"message": i, "source": "types"}),
        lambda i: orjson.dumps({"level": "INFO", "note": f"no message or source {i}"}),
        lambda i: orjson.dumps([i, "an array"]),
        lambda i: b"",
        lambda i: orjson.dumps({"message": f"m{i}", "source": "s", "level": "LOUD"}),
        lambda i: orjson.dumps({"message": f"nul\u0000{i}", "source": "s"}),
        lambda i: orjson.dumps({"message": f"m{i}", "source": "x" * 300}),
    ]
    big = b'{"message": "' + b"x" * (1024 * 1024) + b'", "source": "big"}'
    return [big] + [kinds[i % len(kinds)](i) for i in range(n - 1)]


def query(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(sql, args)
        rows = cur.fetchall()
    conn.close()
    return rows


def row_count(database_url: str) -> int:
    try:
        return int(query(database_url, "SELECT count(*) FROM logs")[0][0])
    except psycopg2.errors.UndefinedTable:
        return 0


def stats_match_rows(worker: Worker, database_url: str) -> bool:
    status, stats = worker.get("/api/v1/stats")
    levels = dict(query(database_url, "SELECT level, count(*) FROM logs GROUP BY level"))
    return status == 200 and stats["total"] == sum(levels.values()) and stats["levels"] == levels


async def test_raw_records_become_rows_or_dead_letters(workers: WorkerFactory, broker: str, database_url: str) -> None:
    worker = workers.make().start()
    good = [good_event(i) for i in range(2000)]
    bad = malformed(200)
    mixed = [v for pair in itertools.zip_longest(good, bad) for v in pair if v is not None]
    await produce(broker, "logs.raw", mixed)

    waited = await wait_for(lambda: row_count(database_url) >= 2000, timeout=90, what="2,000 rows")
    await wait_drained(broker, workers.app_id)
    assert row_count(database_url) == 2000

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
    workers.make().start()
    event_id = str(uuid.uuid4())
    twins = [good_event(0, id=event_id), good_event(1, id=event_id)]
    await produce(broker, "logs.raw", [*twins, *(good_event(i) for i in range(2, 12))])
    await wait_for(lambda: row_count(database_url) >= 11, timeout=60, what="11 rows")
    await wait_drained(broker, workers.app_id)
    assert query(database_url, "SELECT count(*) FROM logs WHERE id = %s", event_id) == [(1,)]
    assert row_count(database_url) == 11


async def test_postgres_outage_loses_and_duplicates_nothing(
    workers: WorkerFactory, broker: str, database_url: str
) -> None:
    with proxied_url(database_url, 5432) as (proxied, proxy):
        worker = workers.make(DATABASE_URL=proxied).start()
        await wait_for(lambda: worker.get("/ready")[0] == 200, timeout=60, what="worker ready")

        proxy.cut()
        await produce(broker, "logs.raw", [good_event(i) for i in range(1000)])
        await wait_for(
            lambda: worker.get("/ready")[1]["checks"]["postgres"]["status"] == "down",
            timeout=30,
            what="/ready to report PostgreSQL down",
        )
        assert row_count(database_url) == 0

        proxy.restore()
        waited = await wait_for(
            lambda: row_count(database_url) >= 1000, timeout=90, what="1,000 rows after PostgreSQL returned"
        )
        await wait_drained(broker, workers.app_id)
        assert query(database_url, "SELECT count(*), count(DISTINCT message) FROM logs") == [(1000, 1000)]
        await wait_for(lambda: stats_match_rows(worker, database_url), timeout=30, what="stats = rows")
        print(f"\nall 1,000 rows {waited:.1f}s after PostgreSQL came back, none twice")


async def test_a_row_postgres_refuses_is_dead_lettered_and_the_rest_stored(
    workers: WorkerFactory, broker: str, database_url: str
) -> None:
    workers.make().start()
    poison = orjson.dumps({"message": "poison", "source": "p", "metadata": {"note": "nul \u0000 inside"}})
    await produce(
        broker, "logs.raw", [*(good_event(i) for i in range(100)), poison, *(good_event(i) for i in range(100, 200))]
    )
    await wait_for(lambda: row_count(database_url) >= 200, timeout=60, what="200 rows")
    await wait_drained(broker, workers.app_id)
    assert row_count(database_url) == 200
    (letter,) = await read_all(broker, "logs.dlq", expect=1)
    assert letter.headers["error"] == b"rejected_by_database"
    assert letter.headers["source_topic"] == b"logs.events"
    assert orjson.loads(letter.value)["message"] == "poison"
    print(f"\npoison row dead-lettered: {letter.headers['error_detail'].decode()[:80]}")
