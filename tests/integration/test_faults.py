"""Faults injected into real servers: PostgreSQL away, the network to the broker cut, the pipeline lagging.

Each test counts what it injected and what arrived, prints it, and holds
the pipeline to "nothing accepted is lost, nothing stored twice".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.kafka.watch import PROBE_TIMEOUT
from devstack.servers import ensure_broker, free_port
from tests.support.api import call
from tests.support.deadlines import wait_for, within
from tests.support.kafka import wait_drained
from tests.support.rows import query, rows_of
from tests.support.stats import stats_match_rows
from tests.support.tcpproxy import TcpProxy, tcp_proxy
from tests.support.workers import Worker, WorkerFactory, worker_cut_off_from_postgres

pytestmark = pytest.mark.integration
ACK_TIMEOUT = 5.0  # INGEST_ACK_TIMEOUT of the worker whose broker is cut off (the default, made explicit)


async def ready(worker: Worker) -> Any:
    return (await worker.fetch("/ready"))[1]


async def test_backpressure_sheds_ingest_while_the_lag_is_high_and_loses_nothing(
    workers: WorkerFactory, broker: str, database_url: str, http: aiohttp.ClientSession
) -> None:
    source = f"bp-{uuid.uuid4().hex[:6]}"
    async with worker_cut_off_from_postgres(
        workers, database_url, BACKPRESSURE_HIGH_LAG="40", BACKPRESSURE_LOW_LAG="5", INGEST_LINGER="0"
    ) as (worker, proxy):
        api = worker.url

        await proxy.cut()  # the persist stage stalls; every accepted request adds a record of lag
        accepted: list[str] = []
        shed: dict[str, Any] | None = None
        for i in range(400):
            status, body, headers = await call(
                http, "POST", api + "/api/v1/logs", {"message": f"event {i}", "source": source}
            )
            if status == 202:
                accepted.append(body["id"])
            else:
                assert status == 429 and body["code"] == "backpressure", body
                shed = {"body": body, "retry_after": int(headers["Retry-After"])}
                break
            if i % 20 == 19:  # the watch samples the lag every 0.5 s
                await asyncio.sleep(0.6)
        assert shed is not None, f"{len(accepted)} accepted and no 429 while nothing could be persisted"
        assert 1 <= shed["retry_after"] <= 60 and "records behind" in shed["body"]["message"]
        pipeline = (await ready(worker))["pipeline"]
        assert pipeline["backpressure"] is True and pipeline["lag"] >= 40
        async with http.get(api + "/metrics") as response:
            assert "logpipe_backpressure_active 1.0" in await response.text()

        await proxy.restore()

        async def open_again() -> bool:
            return bool((await ready(worker))["pipeline"]["backpressure"] is False)

        waited = await wait_for(open_again, timeout=60, what="the lag to drain under the low-water mark")
        status, body, _ = await call(http, "POST", api + "/api/v1/logs", {"message": "after", "source": source})
        assert status == 202, body
        accepted.append(body["id"])
        await wait_for(lambda: rows_of(database_url, source)[0] >= len(accepted), timeout=60, what="every row")
        await wait_drained(broker, workers.app_id)
        assert await asyncio.to_thread(rows_of, database_url, source) == (len(accepted), len(accepted))
        ids = await asyncio.to_thread(query, database_url, "SELECT id FROM logs WHERE source = %s", source)
        stored = {str(r[0]) for r in ids}
        assert stored == set(accepted)
        print(
            f"\nbackpressure: 429 after {len(accepted) - 1} accepted with PostgreSQL away "
            f"(Retry-After {shed['retry_after']} s); open again {waited:.1f}s after it returned; "
            f"{len(accepted)} accepted = {len(accepted)} rows"
        )


async def test_postgres_away_for_20_seconds_mid_load(
    workers: WorkerFactory, broker: str, database_url: str, http: aiohttp.ClientSession
) -> None:
    source = f"pg-{uuid.uuid4().hex[:6]}"
    async with worker_cut_off_from_postgres(workers, database_url) as (worker, proxy):
        api = worker.url
        accepted: list[str] = []
        statuses: dict[int, int] = {}
        saw_down = False

        async def post_for(seconds: float, batch: int) -> None:
            nonlocal saw_down
            until = time.monotonic() + seconds
            n = 0
            while time.monotonic() < until:
                events = [{"message": f"m {len(accepted) + i}", "source": source} for i in range(batch)]
                status, body, _ = await call(http, "POST", api + "/api/v1/logs/batch", events)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202:
                    accepted.extend(body["ids"])
                n += 1
                if n % 10 == 0:
                    saw_down = saw_down or (await ready(worker))["checks"]["postgres"]["status"] == "down"
                await asyncio.sleep(0.05)

        await post_for(3, 50)
        cut_at = time.monotonic()
        await proxy.cut()
        await post_for(20, 50)
        await proxy.restore()
        outage = time.monotonic() - cut_at
        await post_for(3, 50)
        assert statuses == {202: statuses[202]}, f"ingest answered other than 202: {statuses}"
        assert saw_down, "/ready did not report PostgreSQL down during the outage"
        waited = await wait_for(
            lambda: rows_of(database_url, source)[0] >= len(accepted), timeout=120, what="every accepted row"
        )
        await wait_drained(broker, workers.app_id)
        assert await asyncio.to_thread(rows_of, database_url, source) == (len(accepted), len(accepted))
        await wait_for(lambda: stats_match_rows(worker, database_url), timeout=30, what="stats = rows")
        print(
            f"\nPostgreSQL away {outage:.0f}s mid-load: {statuses[202]} batches, {len(accepted)} events accepted "
            f"(all 202), all {len(accepted)} rows {waited:.1f}s after it returned, none twice"
        )


@pytest.fixture
def proxied_broker(tmp_path: Path) -> Iterator[tuple[str, TcpProxy]]:
    """A dev broker reached only through a proxy the test can cut: it advertises the proxy's address."""
    port = free_port()
    with tcp_proxy("127.0.0.1", port) as proxy:
        server = ensure_broker(
            f"kafka://127.0.0.1:{port}",
            tmp_path / "broker",
            tmp_path / "broker.log",
            advertised=f"127.0.0.1:{proxy.port}",
        )
        try:
            yield f"127.0.0.1:{proxy.port}", proxy
        finally:
            server.stop()


@pytest.mark.parametrize("cut", ["refused", "dropped"])
async def test_network_to_the_broker_cut_means_503_and_ingest_resumes_by_itself(
    proxied_broker: tuple[str, TcpProxy],  # before workers: set up first, so torn down after the worker stopped
    workers: WorkerFactory,
    database_url: str,
    http: aiohttp.ClientSession,
    cut: str,
) -> None:
    bootstrap, proxy = proxied_broker
    source = f"br-{uuid.uuid4().hex[:6]}"
    worker = await workers.ready(KAFKA_BROKER_URL=f"kafka://{bootstrap}", INGEST_ACK_TIMEOUT=str(ACK_TIMEOUT))
    api = worker.url
    first, _, _ = await call(http, "POST", api + "/api/v1/logs", {"message": "before", "source": source})
    assert first == 202
    # Mid-operation, not mid-start: Faust stops a worker whose first rebalance cannot reach the broker.
    await wait_for(lambda: rows_of(database_url, source)[0] == 1, timeout=60, what="the first event persisted")

    await (proxy.cut() if cut == "refused" else proxy.blackhole())
    cut_at = time.monotonic()
    # Refused: the watch's next probe fails at once. Dropped: only silence; a probe timing out right after
    # an ack is not yet "unreachable" (a busy broker), the next one is: two probes' timeouts and intervals.
    bound = 1.0 if cut == "refused" else 1.0 + 2 * (PROBE_TIMEOUT + 0.5)
    answers: list[tuple[int, float]] = []
    try:
        async with within(bound, f"the first 503 after the network to the broker was cut ({cut})"):
            while True:
                started = time.monotonic()
                event = {"message": "during", "source": source}
                status, body, headers = await call(http, "POST", api + "/api/v1/logs", event)
                answers.append((status, time.monotonic() - started))
                if status == 503:
                    assert body["code"] == "broker_unavailable" and int(headers["Retry-After"]) >= 1
                    break
                assert status == 202, body  # accepted before the watch saw the cut: held, stored once it returns
                await asyncio.sleep(0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; answers meanwhile (status, seconds): {answers}") from None
    detected = time.monotonic() - cut_at
    # Once the watch has seen the cut, ingest refuses at once without sending (not "no acknowledgement within
    # INGEST_ACK_TIMEOUT"): a request that waited for the acknowledgement would outlive this deadline.
    timings = []
    for _ in range(5):
        started = time.monotonic()
        async with within(ACK_TIMEOUT / 2, "a 503 once the watch saw the cut"):
            status, body, _ = await call(http, "POST", api + "/api/v1/logs", {"message": "during", "source": source})
        timings.append(time.monotonic() - started)
        assert status == 503 and body["message"].startswith("the broker is unreachable"), body
    assert (await ready(worker))["pipeline"]["broker_reachable"] is False
    accepted_during = sum(1 for status, _ in answers if status == 202)

    await proxy.restore()
    restored = time.monotonic()

    async def reachable_again() -> bool:
        return bool((await ready(worker))["pipeline"]["broker_reachable"] is True)

    await wait_for(reachable_again, timeout=60, what="the worker to reach the broker again")

    async def accepted_again() -> bool:
        return (await call(http, "POST", api + "/api/v1/logs", {"message": "after", "source": source}))[0] == 202

    await wait_for(accepted_again, timeout=30, what="ingest to accept again")
    resumed = time.monotonic() - restored
    await wait_for(
        lambda: (
            query(database_url, "SELECT count(*) FROM logs WHERE source = %s AND message = 'after'", source)[0][0] >= 1
        ),
        timeout=60,
        what="an event sent after the network returned to be persisted",
    )
    await wait_for(
        lambda: (
            query(database_url, "SELECT count(*) FROM logs WHERE source = %s AND message = 'during'", source)[0][0]
            >= accepted_during
        ),
        timeout=60,
        what="the events accepted just before the watch saw the cut",
    )
    assert worker.alive, "the worker kept running"
    print(
        f"\nnetwork to the broker cut ({cut}): first 503 {detected:.2f}s after, then 503 in "
        f"{max(timings) * 1000:.0f} ms at most; ingest accepted again {resumed:.1f}s after it returned "
        f"and persisted, same worker process"
    )
