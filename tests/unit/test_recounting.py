"""A count table rebuilt from the rows: the same counters the deltas built, and which deltas it already holds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast

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
from app.storage.recount import Recount
from app.tables.counts import LiveCounts

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


def live_counts(table: dict[str, Any]) -> LiveCounts:
    def send(*record: object) -> Any:
        raise AssertionError(f"nothing is produced here: {record}")

    return LiveCounts(cast(Any, table), top_sources=10, send=send, max_delay=1.0)


def test_a_table_without_the_record_of_a_rebuild_wants_one_and_a_rebuilt_one_only_for_a_later_loss() -> None:
    at = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
    rebuilt = live_counts({BASE: {"snapshot": "11:13:11", "rows": 5, "at": at.isoformat()}})
    assert live_counts({"total": {"n": 3}}).wants({"rebuild": "no record"})
    assert not rebuilt.wants({"rebuild": "no record"}), "a second request of the same start"
    assert not rebuilt.wants({"rebuild": "lost", "since": (at - timedelta(seconds=1)).isoformat()})
    assert rebuilt.wants({"rebuild": "lost", "since": (at + timedelta(seconds=1)).isoformat()})


def test_after_a_rebuild_only_the_deltas_of_transactions_its_snapshot_did_not_see_count() -> None:
    counts = live_counts({BASE: {"snapshot": "11:13:11", "rows": 5, "at": "2026-12-07T17:00:00+00:00"}})
    seen = {xid: counts.already_counted({"p": 0, "o": 1, "c": {}, "x": xid}) for xid in (10, 11, 12, 13)}
    assert seen == {10: True, 11: False, 12: True, 13: False}
    assert not counts.already_counted({"p": 0, "o": 1, "c": {}}), "a delta relayed without its transaction"
    assert not live_counts({}).already_counted({"p": 0, "o": 1, "c": {}, "x": 9}), "no rebuild yet"


def test_replacing_the_table_leaves_only_the_rebuilt_counters_and_the_record() -> None:
    table: dict[str, Any] = {"total": {"n": 3, "hw": {"0": 7}}, "source:gone": {"n": 1, "hw": {"0": 7}}}
    counts = live_counts(table)
    counts.replace(Recount(rebuilt_counters([("INFO", "api", None, 4)], []), Snapshot.parse("5:5:"), "5:5:", 4))
    assert sorted(table) == sorted([BASE, "level:INFO", "source:api", "total"])
    assert table["total"] == {"n": 4, "hw": {}} and table[BASE]["snapshot"] == "5:5:"
