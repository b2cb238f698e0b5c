"""Start real ``python -m app worker`` processes for tests, and stop or kill them.

The process handling is plain blocking code (``subprocess``, ``urllib``),
shared with the benchmark; an async test starts a worker through
:meth:`WorkerFactory.start` (which runs it in a thread) and asks it over
HTTP with :meth:`Worker.fetch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from devstack.servers import free_port
from tests.support.deadlines import wait_for
from tests.support.tcpproxy import TcpProxy, proxied_url

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED_STORES = ["memory://", "rocksdb://"]
"""The table stores a worker can keep its counts in (``STORE``): a table test runs on each, through the
``store`` fixture (``@pytest.mark.parametrize("store", SUPPORTED_STORES, indirect=True)``)."""


@dataclass
class Worker:
    """One worker process and where to reach it."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True, timeout: float = 90) -> Worker:
        """Start the process; with ``wait_ready``, block until it serves HTTP with its schema in place."""
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "worker", "--loglevel", "info", "--web-port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait_ready:
            self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout: float = 90) -> None:
        """Wait until the worker answers HTTP and its schema is in place (PostgreSQL "up" in /ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, body = self.get("/ready")
                if status == 200 or (isinstance(body, dict) and body["checks"]["postgres"]["status"] == "up"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"worker {self.name} did not serve HTTP within {timeout}s:\n{self.log_tail()}")

    def get(self, path: str, timeout: float = 5) -> tuple[int, Any]:
        """GET ``path`` (blocking): status and JSON body. From async code, :meth:`fetch`."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    async def fetch(self, path: str, timeout: float = 5) -> tuple[int, Any]:  # noqa: ASYNC109 - per request
        """GET ``path``: status and JSON body (``None`` when empty)."""
        client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
        async with client as http, http.get(self.url + path) as response:
            raw = await response.read()
            return response.status, orjson.loads(raw) if raw else None

    async def wait_ready(self, timeout: float = 60) -> None:  # noqa: ASYNC109 - a deadline, reported with /ready
        """Wait until ``/ready`` answers 200: the broker, PostgreSQL and Redis reached, partitions assigned."""
        last: list[Any] = []

        async def ready() -> bool:
            last[:] = await self.fetch("/ready")
            return bool(last[0] == 200)

        try:
            await wait_for(ready, timeout=timeout, what=f"worker {self.name} /ready 200", interval=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer {last}") from None

    def kill(self) -> None:
        """SIGKILL: no goodbye to the group, no flush, no commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def worker_env(
    *,
    bootstrap: str,
    database_url: str,
    redis_url: str,
    app_id: str,
    data_dir: Path,
    port: int,
    fail_fast: bool = True,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a test worker; ``extra`` settings last, over everything else.

    ``fail_fast`` shortens the session timeout and the retry delay so that
    fault tests see a dead worker or a returned PostgreSQL quickly; a
    benchmark turns it off to measure the defaults a user runs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_", "REDIS_"))}
    if fail_fast:
        env.update(BROKER_SESSION_TIMEOUT="6", PG_RETRY_MAX_DELAY="1")
    env.update(
        KAFKA_BROKER_URL=f"kafka://{bootstrap}",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        APP_ID=app_id,
        DATA_DIR=str(data_dir),
        WEB_PORT=str(port),
        AUTH_ENABLED="false",
        RATE_LIMITS_ENABLED="false",
        TABLE_RECOVERY_CHECK="false",  # the dev broker's ListOffsets is short after multi-record batches
        SYSLOG_ENABLED="false",  # a test that needs syslog enables it on ports of its own
        RETENTION_DAYS="3650",  # events dated on fixed days stay within retention (a test of too_old sets its own)
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


@dataclass
class WorkerFactory:
    """Makes workers of one app (one consumer group) on one broker and database, and stops them all at the end.

    ``settings`` go to every worker it makes (a test's ``STORE``); the
    environment given to :meth:`make` goes over them.
    """

    bootstrap: str
    database_url: str
    redis_url: str
    work_dir: Path
    app_id: str = field(default_factory=lambda: f"logpipe-test-{uuid.uuid4().hex[:8]}")
    settings: dict[str, str] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)

    def make(self, name: str = "w0", **env: str) -> Worker:
        """A worker not yet started; ``env`` overrides its settings (``DATABASE_URL=<proxied>``, ...)."""
        port = free_port()
        worker = Worker(
            name,
            port,
            worker_env(
                bootstrap=self.bootstrap,
                database_url=self.database_url,
                redis_url=self.redis_url,
                app_id=self.app_id,
                data_dir=self.work_dir / f"data-{name}",
                port=port,
                extra={**self.settings, **env},
            ),
            self.work_dir / f"{name}.log",
        )
        self.workers.append(worker)
        return worker

    async def start(self, name: str = "w0", **env: str) -> Worker:
        """A worker started and serving HTTP with its schema in place (not necessarily ready: see :meth:`ready`)."""
        return await asyncio.to_thread(self.make(name, **env).start)

    async def ready(self, name: str = "w0", **env: str) -> Worker:
        """A worker whose ``/ready`` answers 200."""
        worker = await self.start(name, **env)
        await worker.wait_ready()
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


@contextlib.asynccontextmanager
async def worker_cut_off_from_postgres(
    workers: WorkerFactory, database_url: str, **env: str
) -> AsyncIterator[tuple[Worker, TcpProxy]]:
    """A ready worker that reaches PostgreSQL only through a proxy the test can cut and restore."""
    with proxied_url(database_url, 5432) as (proxied, proxy):
        yield await workers.ready(DATABASE_URL=proxied, **env), proxy
