"""Which PostgreSQL errors condemn rows (dead letters) and which only ask for a retry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from app.storage.edge import is_row_error


@dataclass
class Refusal:
    """What the persist path reads of a psycopg2 error: its SQLSTATE and its text."""

    pgcode: str
    text: str

    def __str__(self) -> str:
        return self.text


def row_error(code: str, text: str) -> bool:
    return is_row_error(cast(Any, Refusal(code, text)))


def test_bad_rows_are_data_and_integrity_errors() -> None:
    assert row_error("22P05", "unsupported Unicode escape sequence")
    assert row_error("23505", "duplicate key value violates unique constraint")
    assert row_error("54000", "index row requires 9000 bytes, maximum size is 8191")


def test_a_row_caught_by_a_partition_being_attached_is_retried() -> None:
    assert not row_error("23514", 'new row for relation "logs_default" violates partition constraint')
    assert row_error("23514", 'new row for relation "logs" violates check constraint "level_check"')


def test_server_trouble_is_not_the_rows_fault() -> None:
    assert not row_error("57P01", "terminating connection due to administrator command")
    assert not row_error("40001", "could not serialize access")
