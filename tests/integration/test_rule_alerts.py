"""Alerts on log queries with real workers: the count table's owner exports each rule's matches over its window,
the other worker none; a rules file that cannot be used stops a worker at start with the line and the reason."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import call, scraped
from tests.support.deadlines import wait_for
from tests.support.groups import split_between
from tests.support.rows import row_count
from tests.support.workers import Worker, WorkerFactory

pytestmark = pytest.mark.integration
RULES = """\
rules:
  - name: api_errors
    level: ERROR
    source: api
    window: 10m
  - name: http_500
    fields: {status: 500}
    q: failed
    window: 1h
"""


async def rule_series(http: aiohttp.ClientSession, worker: Worker) -> dict[str, float]:
    async with http.get(worker.url + "/metrics") as response:
        samples = scraped(await response.text())
    return {key: value for key, value in samples.items() if key.startswith("logpipe_log_rule_matches{")}


async def owns_counts(worker: Worker) -> bool:
    status, body = await worker.fetch("/ready")
    return status == 200 and body["partitions"].get("logs.counts") == [0]


async def test_the_count_table_owner_exports_each_rule_s_matches_in_its_window(
    workers: WorkerFactory, database_url: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    await asyncio.to_thread(rules.write_text, RULES)
    group = [await workers.start(f"w{i}", LOG_RULES_FILE=str(rules), LOG_RULES_INTERVAL="1") for i in range(2)]
    await wait_for(lambda: split_between(group), timeout=90, what="2 workers to split the partitions")

    async def owners() -> list[Worker]:
        return [w for w in group if await owns_counts(w)]

    async def one_owner() -> bool:
        return len(await owners()) == 1

    await wait_for(one_owner, timeout=60, what="an owner of the count table")
    (owner,) = await owners()
    (other,) = [w for w in group if w is not owner]

    now = datetime.now(UTC)
    recent, older = now.isoformat(), (now - timedelta(minutes=20)).isoformat()
    events = [
        {"level": "ERROR", "source": "api", "message": "status=500 msg=failed", "timestamp": recent},
        {"level": "ERROR", "source": "api", "message": "upstream failed", "timestamp": recent},
        {"level": "ERROR", "source": "api", "message": "status=404 msg=failed", "timestamp": recent},
        {"level": "INFO", "source": "api", "message": '{"status": 500, "msg": "request failed"}', "timestamp": recent},
        {"level": "INFO", "source": "web", "message": "status=500 msg=ok", "timestamp": recent},
        {"level": "ERROR", "source": "db", "message": "status=500 msg=failed", "timestamp": recent},
        {"level": "ERROR", "source": "api", "message": "status=500 msg=failed", "timestamp": older},  # 1 h, not 10 m
    ]
    status, body, _ = await call(http, "POST", f"{other.url}/api/v1/logs/batch", events)
    assert status == 202, body
    await wait_for(lambda: row_count(database_url) == len(events), timeout=60, what="the events stored")

    expected = {'logpipe_log_rule_matches{rule="api_errors"}': 3.0, 'logpipe_log_rule_matches{rule="http_500"}': 4.0}

    async def owner_exports() -> bool:
        return await rule_series(http, owner) == expected

    await wait_for(owner_exports, timeout=30, what=f"{expected} on the owner")
    assert await rule_series(http, other) == {}, "only the count table's owner exports the rules: one series per rule"
    print(f"\n{owner.name} owns the count table and exports {expected}; {other.name} exports none")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "rules:\n  - name: api_errors\n    window: 10m\n  - name: slow\n    level: ERROR\n    window: 5 minutes\n",
            ":6:13: rule 'slow': window: must be a duration like 30s, 5m, 1h (got '5 minutes')",
        ),
        (None, ": cannot be read"),
    ],
)
def test_a_rules_file_that_cannot_be_used_stops_the_worker_with_the_line_and_reason(
    workers: WorkerFactory, tmp_path: Path, content: str | None, reason: str
) -> None:
    rules = tmp_path / "rules.yaml"
    if content is not None:
        rules.write_text(content)
    worker = workers.make(LOG_RULES_FILE=str(rules))
    worker.start(wait_ready=False)
    assert worker.process is not None
    try:
        worker.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"a worker with a bad rules file kept running:\n{worker.log_tail()}")
    assert worker.process.returncode != 0
    assert f"{rules}{reason}" in worker.log_tail(300)
