"""The stack a benchmark runs against: a fresh broker, a fresh database, one worker."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from devstack.servers import ensure_broker, ensure_postgres, ensure_redis, free_port
from tests.support.workers import Worker, worker_env

VAR = Path("var/bench")


@dataclass
class Stack:
    bootstrap: str
    database_url: str
    redis_url: str
    worker: Worker
    app_id: str
    broker_pid: int | None = None


def _fresh_database(server_url: str, name: str) -> str:
    admin = server_url.rsplit("/", 1)[0] + "/postgres"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def stack(database_url: str, redis_url: str, work_dir: Path = VAR, **worker_settings: str) -> Iterator[Stack]:
    """Start a broker and a worker on free ports with a fresh database; stop them afterwards."""
    run = work_dir / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    broker = ensure_broker(f"kafka://127.0.0.1:{free_port()}", run / "broker", run / "broker.log")
    postgres = ensure_postgres(database_url, work_dir / "postgres", work_dir / "postgres.log")
    redis = ensure_redis(redis_url, work_dir / "redis", work_dir / "redis.log")
    db = _fresh_database(postgres.url, "logpipe_bench")
    app_id = f"bench-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = worker_env(
        bootstrap=broker.url.removeprefix("kafka://"),
        database_url=db,
        redis_url=redis.url,
        app_id=app_id,
        data_dir=run / "worker",
        port=port,
        fail_fast=False,  # a benchmark measures the session timeout and retry delay a user runs
    )
    env.update({"LOG_FORMAT": "json", "LOG_LEVEL": "warning", **worker_settings})
    worker = Worker("bench", port, env, run / "worker.log")
    try:
        worker.start()
        deadline = time.monotonic() + 60
        while worker.get("/ready")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench worker not ready:\n{worker.log_tail()}")
            time.sleep(0.2)
        broker_pid = broker.process.pid if broker.process is not None else None
        yield Stack(broker.url.removeprefix("kafka://"), db, redis.url, worker, app_id, broker_pid)
    finally:
        worker.stop()
        for server in (broker, postgres, redis):
            server.stop()
