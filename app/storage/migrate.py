"""Apply the numbered SQL files of ``migrations/`` (shipped in the package) in order, once each.

Safe when several workers start at once: the runner holds a PostgreSQL
advisory lock while it looks at and applies what is missing, and records
each applied file in ``schema_migrations``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import aiopg
import psycopg2
from psycopg2 import sql

from app.storage import edge

log = logging.getLogger(__name__)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
_LOCK_ID: Final = 0x6C6F6770  # "logp"
_NAME: Final = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, by version; refuses two files of one version."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"{path.name}: migration files are named NNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"{path.name}: version {version} is also {found[version].name}")
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


async def ensure_database(dsn: str) -> None:
    """Create the database ``dsn`` names when it does not exist yet."""
    parts = urlsplit(dsn)
    name = parts.path.lstrip("/")
    if not name:
        return
    admin = urlunsplit(parts._replace(path="/postgres"))
    with edge.postgres_errors():
        async with aiopg.connect(admin, timeout=10) as conn, conn.cursor() as cur:
            await cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if await cur.fetchone():
                return
            try:
                await cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string(cur.raw))
                log.info("created database %s", name)
            except (psycopg2.errors.DuplicateDatabase, psycopg2.errors.UniqueViolation):
                pass  # another worker won the race


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is missing; returns the names of the files applied now."""
    migrations = discover(directory)
    applied_now: list[str] = []
    with edge.postgres_errors():
        async with aiopg.connect(dsn, timeout=30) as conn, conn.cursor() as cur:
            await cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
            try:
                await cur.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                await cur.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in await cur.fetchall()}
                for migration in (m for m in migrations if m.version not in done):
                    async with edge.begun(cur):
                        await cur.execute(migration.sql)
                        await cur.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied_now.append(migration.name)
                    log.info("applied migration %s", migration.name)
            finally:
                await cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
