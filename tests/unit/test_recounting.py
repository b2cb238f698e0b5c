"""A count table rebuilt from the rows: the same counters the deltas built, and which deltas it already holds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from app.domain.counting import (
    BASE,
    CounterValue,
    Snapshot,
    by_scope,
    delta_from_rows,
    epoch_minute,
    fold,
    rebuilt_counters,
    table_key,
)

NOW = datetime(2026, 12, 7, 17, 30, 15, tzinfo=UTC)
MIN = epoch_minute(NOW)
ROWS = [
    ("INFO", "api", None),
    ("INFO", "api", "acme"),
    ("ERROR", "web", "acme"),
    ("WARN", "web", "globex"),
    ("INFO", "db", None),
]


def folded(batches: list[tuple[int, list[tuple[str, str, str | None]]]]) -> dict[str, CounterValue]:
    """The table the count agent builds from one delta per ``(minute, rows)`` batch."""
    table: dict[str, CounterValue] = {}
    for offset, (minute, rows) in enumerate(batches):
        for counter, n in delta_from_rows(rows, minute).items():
            new = fold(table.get(table_key(counter)), counter, n, 0, offset)
            if new is not None:
                table[table_key(counter)] = new
    return table


def without_marks(table: dict[str, CounterValue]) -> dict[str, tuple[int, int | None]]:
    return {key: (value["n"], value.get("m")) for key, value in table.items()}


def test_the_rebuilt_table_is_the_table_the_deltas_built() -> None:
    batches = [(MIN - 2, ROWS[:2]), (MIN - 2, ROWS[2:3]), (MIN, ROWS[3:])]
    groups = Counter(ROWS)
    minutes = Counter((minute, org) for minute, rows in batches for _, _, org in rows)
    rebuilt = rebuilt_counters(
        [(*key, n) for key, n in groups.items()], [(minute, org, n) for (minute, org), n in minutes.items()]
    )
    assert without_marks(rebuilt) == without_marks(folded(batches))
    assert all(value["hw"] == {} for value in rebuilt.values()), "every delta after the rebuild folds in"


def test_rows_stored_more_than_an_hour_ago_count_in_no_minute() -> None:
    rebuilt = rebuilt_counters([("INFO", "api", None, 7)], [])
    assert without_marks(rebuilt) == {"level:INFO": (7, None), "source:api": (7, None), "total": (7, None)}


def test_no_rows_rebuild_an_empty_table() -> None:
    assert rebuilt_counters([], []) == {}


def test_the_rebuild_record_is_no_counter_of_any_scope() -> None:
    assert by_scope([(BASE, {"snapshot": "1:1:"}), ("total", {"n": 3})]) == {"": {"total": {"n": 3}}}


@pytest.mark.parametrize(
    ("xid", "saw"),
    [
        (99, True),  # finished before the oldest transaction still running
        (100, False),  # the oldest still running
        (101, True),  # committed while 100 ran
        (102, False),  # still running
        (104, True),
        (105, False),  # not yet started: at or past xmax
        (900, False),
    ],
)
def test_a_snapshot_saw_what_had_committed_when_it_was_taken(xid: int, saw: bool) -> None:
    assert Snapshot.parse("100:105:100,102").saw(xid) is saw


def test_a_snapshot_with_nothing_running() -> None:
    snapshot = Snapshot.parse("731:731:")
    assert (snapshot.running, snapshot.saw(730), snapshot.saw(731)) == (frozenset(), True, False)
