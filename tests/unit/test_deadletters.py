from __future__ import annotations

from datetime import UTC, datetime

from app.domain.deadletters import DeadLetter, Reason


def test_headers_say_why_and_where_from() -> None:
    letter = DeadLetter(
        value=b"\xff",
        key=None,
        error=Reason.BAD_UTF8,
        detail="not valid UTF-8 at byte 0",
        source_topic="logs.raw",
        source_partition=3,
        source_offset=1234,
        source_timestamp_ms=1_700_000_000_000,
        failed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert dict(letter.headers()) == {
        "error": b"bad_utf8",
        "error_detail": b"not valid UTF-8 at byte 0",
        "source_topic": b"logs.raw",
        "source_partition": b"3",
        "source_offset": b"1234",
        "source_timestamp": b"1700000000000",
        "failed_at": b"2026-01-01T00:00:00+00:00",
    }


def test_detail_header_is_bounded() -> None:
    letter = DeadLetter(b"", None, Reason.INVALID, "x" * 10_000, "logs.raw", 0, 0)
    assert len(dict(letter.headers())["error_detail"]) == 4096
