"""The committed JSON Schema matches the model, and migrations are well formed."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli.schema import render
from app.storage.migrate import discover

EVENT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "log-event.schema.json"


def test_committed_event_schema_is_current() -> None:
    committed = EVENT_SCHEMA.read_bytes()
    assert committed == render(), "schemas/log-event.schema.json is stale: run `make schema`"


def test_migrations_are_numbered_in_order() -> None:
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


def test_logs_table_has_the_documented_indexes() -> None:
    sql = "\n".join(m.sql for m in discover())
    assert "id              uuid        PRIMARY KEY" in sql
    for columns in ("(level,", "(source,", "(organization_id,", "USING gin"):
        assert columns in sql


def test_misnamed_or_duplicate_migrations_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1")
    (tmp_path / "001_b.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="version 1"):
        discover(tmp_path)
    (tmp_path / "001_b.sql").unlink()
    (tmp_path / "2_c.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="NNN_"):
        discover(tmp_path)
