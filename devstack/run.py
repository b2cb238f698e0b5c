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
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from app.settings import Settings
from app.storage import migrate
from app.topics import create_topics, topic_specs
from devstack.servers import Server, broker_answers, ensure_broker, ensure_postgres, ensure_redis

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


def refuse_workers_on_dev_broker(workers: int, broker_url: str) -> None:
    """More than one worker needs a broker that evicts dead group members: not one we would start."""
    if workers > 1 and not broker_answers(broker_url.removeprefix("kafka://").replace(";", ",")):
        say(
            f"WORKERS={workers}: no broker answers at KAFKA_BROKER_URL, and the development broker make run\n"
            "logpipe |   would start (noida-db) cannot hold several workers: it never evicts a member that died\n"
            "logpipe |   without leaving,"
            " so its partitions would stall (see DESIGN.md, 'Development stack' and 'Multi-worker').\n"
            "logpipe |   Point KAFKA_BROKER_URL at a running Apache Kafka (e.g. compose/), or use WORKERS=1."
        )
        raise SystemExit(2)


def main() -> int:
    settings = Settings()
    workers = int(os.environ.get("WORKERS", "1") or "1")
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    started: list[Server] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        refuse_workers_on_dev_broker(workers, settings.kafka_broker_url)
        say("finding or starting the broker, PostgreSQL and Redis ...")
        broker = ensure_broker(settings.kafka_broker_url, VAR / "broker", LOGS / "broker.log")
        started.append(broker)
        dsn = settings.database_url.get_secret_value()
        postgres = ensure_postgres(dsn, VAR / "postgres", LOGS / "postgres.log")
        started.append(postgres)
        redis = ensure_redis(settings.redis_url, VAR / "redis", LOGS / "redis.log")
        started.append(redis)
        for server in started:
            how = "started, data in ./var" if server.process else "found running"
            say(f"  {server.name:<10} {server.url}  ({how})")

        env = {**os.environ, "KAFKA_BROKER_URL": broker.url, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
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
        supervise(procs, broker, settings, env)
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


def supervise(procs: list[subprocess.Popen[bytes]], broker: Server, settings: Settings, env: dict[str, str]) -> None:
    """Wait; restart a worker that died, restarting our dev broker first.

    The dev broker never evicts a member that died without leaving the group,
    so a restarted worker would hang after joining until the broker restarts.
    """
    while True:
        time.sleep(0.5)
        for i, proc in enumerate(procs):
            code = proc.poll()
            if code is None:
                continue
            say(f"worker {i} exited with {code}")
            if broker.process is not None:
                say("restarting the development broker first (it does not evict dead group members) ...")
                broker.stop()
                fresh = ensure_broker(settings.kafka_broker_url, VAR / "broker", LOGS / "broker.log")
                broker.process = fresh.process
            else:
                say("if the worker hangs after 'Joined group', the broker keeps the dead member: restart the broker")
            procs[i] = start_worker(i, settings, env)


if __name__ == "__main__":
    sys.exit(main())
