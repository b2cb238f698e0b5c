"""``make run``: the whole system on one machine, no Docker, no root.

Finds or starts the broker, PostgreSQL and Redis (reusing the ones the
``KAFKA_BROKER_URL``/``DATABASE_URL``/``REDIS_URL`` settings point at when
they answer, else embedded ones with data under ``./var/``), applies the
migrations, creates the topics, starts ``WORKERS`` workers, prints where
everything is, and on Ctrl-C (or SIGTERM) stops what it started and nothing
else.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from app.domain.topic_layout import topic_specs
from app.kafka.topic_admin import create_topics
from app.settings import Settings
from app.storage import migrate
from devstack.servers import Server, ensure_broker, ensure_postgres, ensure_redis

VAR = Path("var")
LOGS = VAR / "log"


def say(message: str) -> None:
    print(f"logpipe | {message}", flush=True)


class Stop(Exception):
    """Ctrl-C or SIGTERM arrived."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop


def start_worker(index: int, settings: Settings, env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = settings.web_port + index
    worker_env = {
        **env,
        "WEB_PORT": str(port),
        "DATA_DIR": str(VAR / f"worker-{index}"),
        "LOG_FORMAT": env.get("LOG_FORMAT", "text"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app", "worker", "--loglevel", settings.log_level, "--web-port", str(port)],
        env=worker_env,
    )


def check_workers(workers: int, partitions: int) -> None:
    """One worker per partition at most: a worker beyond that would own nothing."""
    if not 1 <= workers <= partitions:
        say(f"WORKERS={workers}: give 1 to {partitions} (TOPIC_PARTITIONS); a worker beyond that would own nothing")
        raise SystemExit(2)


def forget_table_stores(workers: int) -> None:
    """A dev broker just started holds no changelog: the workers' table stores describe one that is gone.

    Kept, a store's offsets would be ahead of the new, empty topics; without
    one, the worker that owns the count table rebuilds it from the rows.
    """
    stale = [VAR / f"worker-{i}" for i in range(workers) if (VAR / f"worker-{i}").exists()]
    for path in stale:
        shutil.rmtree(path)
    if stale:
        say("the live counts are rebuilt from the rows: the new dev broker holds none of the old table changelogs")


def main() -> int:
    settings = Settings()
    workers = int(os.environ.get("WORKERS", "1") or "1")
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    started: list[Server] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        check_workers(workers, settings.topic_partitions)
        say("finding or starting the broker, PostgreSQL and Redis ...")
        broker = ensure_broker(settings.kafka_broker_url, VAR / "broker", LOGS / "broker.log")
        started.append(broker)
        dsn = settings.database_url.get_secret_value()
        postgres = ensure_postgres(dsn, VAR / "postgres", LOGS / "postgres.log")
        started.append(postgres)
        redis = ensure_redis(settings.redis_url, VAR / "redis", LOGS / "redis.log")
        started.append(redis)
        for server in started:
            say(f"  {server.name:<10} {server.url}  ({_how(server)})")

        env = {**os.environ, "KAFKA_BROKER_URL": broker.url, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
        if broker.process is not None:
            forget_table_stores(workers)
            # tansu answers ListOffsets(latest) short after a multi-record batch (app/settings.py)
            env.setdefault("TABLE_RECOVERY_CHECK", "false")
        if not (settings.api_keys or settings.api_keys_file or "AUTH_ENABLED" in os.environ):
            env["AUTH_ENABLED"] = "false"
        if env.get("AUTH_ENABLED", "true").lower() in ("false", "0", "no", "off"):
            say("!" * 78)
            say("AUTH IS OFF: no API key is asked for; anyone who reaches the port reads and writes everything.")
            say("  For local development only. Turn it on: API_KEYS='...' make run (logpipe keys new makes one).")
            say("!" * 78)
        applied = asyncio.run(migrate.migrate(postgres.url))
        say(f"migrations: {', '.join(applied) if applied else 'schema up to date'}")
        if settings.topic_declare:
            created = asyncio.run(
                create_topics(
                    broker.url.removeprefix("kafka://"),
                    topic_specs(settings.topic_partitions, settings.raw_max_bytes),
                    settings.topic_replication,
                )
            )
            say(f"topics: {', '.join(created) if created else 'all present'}")
        else:
            say("topics: not created (TOPIC_DECLARE=false); they must exist already")

        procs = [start_worker(i, settings, env) for i in range(workers)]
        for i in range(workers):
            base = f"http://{settings.web_host}:{settings.web_port + i}"
            say(f"worker {i}: console {base}/  API {base}/docs  {base}/ready")
        say(f"send events: kcat -P -b {broker.url.removeprefix('kafka://')} -t logs.raw   (Ctrl-C stops everything)")
        supervise(procs, settings, env)
    except Stop:
        say("stopping ...")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in reversed(started):
            server.stop()
        say("stopped")
    return 0


def _how(server: Server) -> str:
    if server.process is None:
        return "found running"
    if server.name == "broker":
        return "started: tansu, topics and offsets in memory only, gone when make run stops"
    return "started, data in ./var"


CRASH_LOOP = 3  # exits in a row, each within STARTUP_GRACE of its start, before make run stops restarting
STARTUP_GRACE = 30.0


def supervise(procs: list[subprocess.Popen[bytes]], settings: Settings, env: dict[str, str]) -> None:
    """Wait; start a worker that died again, unless it keeps dying as it starts.

    The broker evicts a dead worker after ``BROKER_SESSION_TIMEOUT`` and
    the group hands its partitions to the workers still running, so the
    broker stays as it is. A worker that dies every time it starts (a bad
    setting, a port taken) is left stopped after ``CRASH_LOOP`` tries.
    """
    started = [time.monotonic()] * len(procs)
    quick_exits = [0] * len(procs)
    given_up: set[int] = set()
    while len(given_up) < len(procs):
        time.sleep(0.5)
        for i, proc in enumerate(procs):
            code = proc.poll()
            if code is None or i in given_up:
                continue
            lived = time.monotonic() - started[i]
            quick_exits[i] = quick_exits[i] + 1 if lived < STARTUP_GRACE else 0
            others = sum(1 for p in procs if p.poll() is None)
            say(f"worker {i} exited with {code} after {lived:.0f}s")
            if others:
                say(
                    f"  the {others} other worker(s) take its partitions over once the broker evicts it "
                    f"(within BROKER_SESSION_TIMEOUT, {settings.broker_session_timeout:g}s)"
                )
            if quick_exits[i] >= CRASH_LOOP:
                say(f"  worker {i} died {quick_exits[i]} times as it started: not starting it again (see above)")
                given_up.add(i)
                continue
            say(f"  starting worker {i} again on port {settings.web_port + i}")
            procs[i] = start_worker(i, settings, env)
            started[i] = time.monotonic()
    say("no worker left running; Ctrl-C stops the broker, PostgreSQL and Redis")
    signal.pause()


if __name__ == "__main__":
    sys.exit(main())
