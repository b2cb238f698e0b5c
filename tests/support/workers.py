"""Start real ``python -m app worker`` processes for tests, and stop or kill them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


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
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "worker", "--loglevel", "info", "--web-port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
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
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

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
    **extra: str,
) -> dict[str, str]:
    """The environment of a test worker.

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
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class WorkerFactory:
    """Makes workers of one app (one consumer group) on one broker; ``make(name, **env)``."""

    bootstrap: str
    app_id: str
    workers: list[Worker]
    make: Any = None
