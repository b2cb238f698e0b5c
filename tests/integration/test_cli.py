"""The logpipe command, run as people run it, against a real worker and servers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support.deadlines import wait_for
from tests.support.kafka import read_all, wait_drained
from tests.support.rows import query, row_count
from tests.support.workers import WorkerFactory

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def logpipe(*args: str, env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command to its end (blocking: from async code, through ``asyncio.to_thread``)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=180,
    )


async def test_send_a_file_over_http_then_stats(workers: WorkerFactory, database_url: str, tmp_path: Path) -> None:
    worker = await workers.start()
    events = tmp_path / "events.ndjson"
    lines = [
        orjson.dumps({"level": ("INFO", "ERROR")[i % 2], "message": f"cli {i}", "source": "cli"}) for i in range(10_000)
    ]
    await asyncio.to_thread(events.write_bytes, b"\n".join(lines) + b"\n")

    sent = await asyncio.to_thread(logpipe, "send", str(events), "--url", worker.url, env=worker.env)
    assert sent.returncode == 0, sent.stderr
    assert "sent 10000 events: 10000 accepted, 0 rejected" in sent.stdout
    await wait_for(lambda: row_count(database_url) == 10_000, timeout=60, what="10,000 rows")

    def stats_shown() -> bool:
        shown = logpipe("stats", "--url", worker.url, env=worker.env)
        return shown.returncode == 0 and "total  10,000" in shown.stdout

    await wait_for(stats_shown, timeout=30, what="logpipe stats to show 10,000")
    print(f"\nlogpipe send: {sent.stdout.strip()}")


async def test_send_reports_bad_lines_and_kafka_mode(workers: WorkerFactory, broker: str, database_url: str) -> None:
    worker = await workers.start()
    body = b'{"message": "good", "source": "s"}\n{"message": "", "source": "s"}\nnot json\n'
    refused = await asyncio.to_thread(logpipe, "send", "-", "--url", worker.url, env=worker.env, stdin=body)
    assert refused.returncode == 1
    assert "1 accepted, 2 rejected" in refused.stdout
    assert "line 2: message: must not be empty or blank (not_blank)" in refused.stderr

    raw = await asyncio.to_thread(logpipe, "send", "--kafka", env=worker.env, stdin=body)
    assert raw.returncode == 0, raw.stderr
    await wait_for(lambda: row_count(database_url) == 2, timeout=60, what="2 rows")
    await wait_drained(broker, workers.app_id)
    assert len(await read_all(broker, "logs.dlq", expect=2)) == 2
    good = "SELECT count(*) FROM logs WHERE message = 'good'"
    assert await asyncio.to_thread(query, database_url, good) == [(2,)]


def test_migrate_and_topics_are_idempotent(broker: str, database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BROKER_URL": f"kafka://{broker}"}
    first, again = logpipe("migrate", env=env), logpipe("migrate", env=env)
    assert first.returncode == 0 and "001_logs.sql" in first.stdout, first.stderr
    assert again.stdout.strip() == "schema up to date"
    made, present = logpipe("topics", "create", env=env), logpipe("topics", "create", env=env)
    assert "logs.raw     4 partition(s)  created" in made.stdout, made.stderr
    assert "logs.raw     4 partition(s)  present" in present.stdout


def test_every_command_explains_itself_with_an_example() -> None:
    for command in (
        ["worker"],
        ["migrate"],
        ["topics", "create"],
        ["send"],
        ["stats"],
        ["dlq", "list"],
        ["dlq", "replay"],
        ["export"],
    ):
        shown = logpipe(*command, "--help", env=dict(os.environ))
        assert shown.returncode == 0 and "Example" in shown.stdout, command
