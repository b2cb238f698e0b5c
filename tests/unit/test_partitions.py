"""Which daily partitions to create and drop."""

from __future__ import annotations

from datetime import date

from app.storage.partitions import day_of, partition_name, plan

TODAY = date(2026, 11, 23)


def test_names_round_trip() -> None:
    assert partition_name(TODAY) == "logs_20261123"
    assert day_of("logs_20261123") == TODAY
    assert day_of("logs_default") is None


def test_creates_yesterday_to_days_ahead_and_drops_expired() -> None:
    existing = {date(2026, 11, 10), date(2026, 11, 15), date(2026, 11, 16), date(2026, 11, 22), TODAY}
    create, drop = plan(existing, set(), TODAY, days_ahead=2, retention_days=7)
    assert create == [date(2026, 11, 24), date(2026, 11, 25)]
    # a day is dropped once all of it is older than the retention window: the 16th still holds rows < 7 days old
    assert drop == [date(2026, 11, 10), date(2026, 11, 15)]


def test_days_waiting_in_the_default_partition_get_theirs_unless_expired() -> None:
    create, _ = plan({TODAY}, {date(2026, 11, 20), date(2026, 1, 1)}, TODAY, days_ahead=1, retention_days=7)
    assert create == [date(2026, 11, 20), date(2026, 11, 22), date(2026, 11, 24)]
