"""A dev broker that comes back empty (it keeps topics in memory): nothing stored is lost, counts stay exact.

This is ``make run`` stopped with Ctrl-C and started again: the broker
starts empty, the workers start with no table store (``make run`` drops
them, as they describe a changelog that is gone), and PostgreSQL keeps every
row. The topics are created again and the count table is rebuilt from the
rows, so ``/api/v1/stats`` equals ``GROUP BY`` before any new event, and
after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.servers import Server, ensure_broker, free_port
from tests.support.deadlines import wait_for
from tests.support.events import good_event
from tests.support.kafka import produce
from tests.support.rows import query, row_count
from tests.support.stats import stats_match_rows, stats_of
from tests.support.workers import WorkerFactory

pytestmark = [pytest.mark.integration, pytest.mark.multiworker]


class Broker:
    """A dev broker on one port that the test stops and starts again, empty."""

    def __init__(self, work_dir: Path) -> None:
        self.url = f"kafka://127.0.0.1:{free_port()}"
        self.bootstrap = self.url.removeprefix("kafka://")
        self._work_dir = work_dir
        self._server: Server | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        log = self._work_dir / f"broker-{self.starts}.log"
        self._server = await asyncio.to_thread(ensure_broker, self.url, self._work_dir / "broker", log)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
async def broker_again(tmp_path: Path) -> AsyncIterator[Broker]:
    broker = Broker(tmp_path)
    await broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_stopped_and_started_again_on_an_empty_broker_the_counts_equal_the_rows(
    broker_again: Broker, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    factory = WorkerFactory(broker_again.bootstrap, database_url, redis_url, tmp_path)
    try:
        first = await factory.ready("first")
        await produce(broker_again.bootstrap, "logs.raw", [good_event(i) for i in range(1200)])
        await wait_for(lambda: row_count(database_url) >= 1200, timeout=90, what="1,200 rows")
        await wait_for(lambda: stats_match_rows(first, database_url), timeout=60, what="stats = rows, first run")

        await asyncio.to_thread(first.stop)
        broker_again.stop()
        await broker_again.start()
        again = await factory.ready("again")  # a new table store, as make run starts its workers
        await wait_for(lambda: stats_match_rows(again, database_url), timeout=60, what="stats = rows, rebuilt")
        assert (await stats_of(again))["total"] == 1200

        await produce(broker_again.bootstrap, "logs.raw", [good_event(i) for i in range(1200, 1500)])
        await wait_for(lambda: row_count(database_url) >= 1500, timeout=90, what="1,500 rows")
        await wait_for(lambda: stats_match_rows(again, database_url), timeout=60, what="stats = rows, after more")
        distinct = "SELECT count(*), count(DISTINCT message) FROM logs"
        assert await asyncio.to_thread(query, database_url, distinct) == [(1500, 1500)]
        assert "rebuilt the count table from 1200 rows" in again.log_tail(400)
    finally:
        factory.stop_all()


async def partition_counts(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    finally:
        await admin.close()


async def test_a_running_worker_survives_the_broker_coming_back_empty(
    broker_again: Broker, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The worker keeps its table store, but the changelog, the topics and the group are gone."""
    factory = WorkerFactory(broker_again.bootstrap, database_url, redis_url, tmp_path)
    try:
        worker = await factory.ready()
        await produce(broker_again.bootstrap, "logs.raw", [good_event(i) for i in range(1000)])
        await wait_for(lambda: row_count(database_url) >= 1000, timeout=90, what="1,000 rows")
        await wait_for(lambda: stats_match_rows(worker, database_url), timeout=60, what="stats = rows, before")
        layout = await partition_counts(broker_again.bootstrap)

        broker_again.stop()
        await broker_again.start()
        for start in range(1000, 1600, 100):  # as a shipper would: sent again and again from the moment it is back
            await produce(broker_again.bootstrap, "logs.raw", [good_event(i) for i in range(start, start + 100)])

        async def laid_out_again() -> bool:
            return await partition_counts(broker_again.bootstrap) == layout

        await wait_for(laid_out_again, timeout=30, what="every topic as logpipe creates it")

        def rebuilt_again() -> bool:
            return worker.log_tail(5000).count("rebuilt the count table from") == 2  # at the first start, then now

        await wait_for(rebuilt_again, timeout=30, what="the count table rebuilt again")
        await produce(broker_again.bootstrap, "logs.raw", [good_event(i) for i in range(1600, 2000)])
        await wait_for(lambda: row_count(database_url) >= 2000, timeout=120, what="2,000 rows")
        await wait_for(lambda: stats_match_rows(worker, database_url), timeout=60, what="stats = rows, after")

        assert worker.alive and "the broker came back empty" in worker.log_tail(5000)
        distinct = "SELECT count(*), count(DISTINCT message) FROM logs"
        assert await asyncio.to_thread(query, database_url, distinct) == [(2000, 2000)]
    finally:
        factory.stop_all()
