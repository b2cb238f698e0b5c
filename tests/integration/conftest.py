"""Real servers for integration tests, and the workers, clients and browser that use them.

PostgreSQL and Redis: the ones the environment points at when they answer
(``TEST_DATABASE_URL``, ``TEST_REDIS_URL``, defaulting to the local ones),
else embedded ones started on free ports with throw-away data. Each test
gets its own database. The broker is a fresh dev broker per test, on a free
port with a throw-away data dir, so no test sees another's records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import aiopg
import psycopg2
import pytest
from playwright.async_api import Browser, async_playwright

from app.storage.migrate import migrate
from app.storage.postgres import connect_pool
from devstack.servers import Server, ensure_broker, ensure_postgres, ensure_redis, free_port
from tests.support.browser import CHROMIUM_ARGS, Screenshots, chromium_path
from tests.support.workers import WorkerFactory

SCREENSHOT_DIR = pytest.StashKey[Path]()


def _reachable_or_embedded(
    ensure: Callable[[str, Path, Path], Server], url: str, fallback: str, tmp: Path, name: str
) -> Iterator[Server]:
    try:
        server = ensure(url, tmp / f"{name}-reuse", tmp / f"{name}-reuse.log")
    except RuntimeError:
        server = ensure(fallback, tmp / name, tmp / f"{name}.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    fallback = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    yield from _reachable_or_embedded(ensure_postgres, url, fallback, tmp_path_factory.mktemp("pg"), "postgres")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    fallback = f"redis://127.0.0.1:{free_port()}/0"
    for server in _reachable_or_embedded(ensure_redis, url, fallback, tmp_path_factory.mktemp("redis"), "redis"):
        yield server.url


def _admin_url(server_url: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/postgres"


@pytest.fixture
def database_url(postgres_server: Server) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"logpipe_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_url(postgres_server.url)
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[aiopg.Pool]:
    """This test's database migrated, and a pool on it as the worker opens one (its latency settings)."""
    await migrate(database_url)
    pool = await connect_pool(database_url, 4)
    try:
        yield pool
    finally:
        pool.close()
        await pool.wait_closed()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """A fresh dev broker (tansu, in memory) on a free port: its bootstrap ``host:port``.

    Every test gets its own, and there is no session-wide one: the topic names
    are fixed, so a test that produces or counts needs a broker nobody else
    wrote to, and for the few that touch no record (error shapes, OpenAPI,
    auth refusals, readiness) sharing would save little: tansu starts in
    0.11 s, and a worker is ready as soon on a fresh broker as on one another
    worker used (8.1 s each, 4 starts each, when its ``logs.raw`` consumer
    still joined its group before the rest started; 4.3 s since), about 1 s
    a run.
    """
    port = free_port()
    server = ensure_broker(f"kafka://127.0.0.1:{port}", tmp_path / "broker", tmp_path / "broker.log")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str | None:
    """The table store (``STORE``) of this test's workers; ``None``: the worker's default (rocksdb).

    A test of the count table runs on every store with
    ``@pytest.mark.parametrize("store", SUPPORTED_STORES, indirect=True)``.
    """
    chosen: str | None = getattr(request, "param", None)
    return chosen


@pytest.fixture
def workers(
    broker: str,
    database_url: str,
    redis_url: str,
    store: str | None,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[WorkerFactory]:
    """Workers on this test's dev broker and database, stopped afterwards; their logs printed if the test failed."""
    factory = WorkerFactory(broker, database_url, redis_url, tmp_path, settings={"STORE": store} if store else {})
    yield factory
    factory.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for worker in factory.workers:
            print(f"----- log of worker {worker.name} -----\n{worker.log_tail(120)}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client session per test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium for one test."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Screenshots:
    """Where console tests save what the browser showed: ``$SCREENSHOT_DIR``, else a temp dir named at the end."""
    chosen = os.environ.get("SCREENSHOT_DIR")
    directory = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    pytestconfig.stash[SCREENSHOT_DIR] = directory
    return Screenshots(directory)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if SCREENSHOT_DIR in config.stash:
        terminalreporter.write_line(f"console screenshots: {config.stash[SCREENSHOT_DIR]}")
