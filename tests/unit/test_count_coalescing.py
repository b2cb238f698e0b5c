"""Folding several deltas before writing: the same counters as writing after each one."""

from __future__ import annotations

from typing import Any

from app.agents.count import PendingCounters
from app.domain.counting import CounterValue, fold, table_key


def delta(partition: int, offset: int, **counts: int) -> dict[str, Any]:
    return {"p": partition, "o": offset, "c": {k.replace("_", ":"): n for k, n in counts.items()}}


def one_by_one(table: dict[str, CounterValue], deltas: list[dict[str, Any]]) -> dict[str, CounterValue]:
    """The table as written after each delta (what the count agent did before coalescing)."""
    table = dict(table)
    for d in deltas:
        for counter, n in d["c"].items():
            key = table_key(counter)
            new = fold(table.get(key), counter, n, d["p"], d["o"])
            if new is not None:
                table[key] = new
    return table


DELTAS = [
    delta(0, 10, level_INFO=3, source_api=3, total=3),
    delta(1, 4, level_INFO=1, level_WARN=1, source_web=2, total=2),
    delta(0, 10, level_INFO=3, source_api=3, total=3),  # relayed twice (a crash between relay and forget)
    delta(0, 25, level_ERROR=2, source_api=2, total=2),
    delta(1, 3, level_INFO=9, total=9),  # at or below partition 1's high-water mark: already counted
]


def test_folded_runs_write_what_one_write_per_delta_wrote() -> None:
    table: dict[str, CounterValue] = {"total": {"n": 100, "hw": {"0": 5}}}
    pending = PendingCounters(table.get)
    for d in DELTAS:
        pending.fold(d)
    written = pending.take()
    assert {**table, **written} == one_by_one(table, DELTAS)
    assert written["total"] == {"n": 107, "hw": {"0": 25, "1": 4}}
    assert written["level:INFO"]["n"] == 4, "the duplicate and the stale delta are not counted"


def test_each_counter_is_written_once_per_run() -> None:
    empty: dict[str, CounterValue] = {}
    pending = PendingCounters(empty.get)
    for offset in range(1, 201):
        pending.fold(delta(offset % 4, offset, level_INFO=1, total=1))
    written = pending.take()
    assert set(written) == {"level:INFO", "total"}
    assert written["total"]["n"] == 200
    assert pending.take() == {}, "taking starts a new run"


def test_a_run_reads_the_table_once_per_counter_and_then_its_own_folds() -> None:
    reads: list[str] = []
    table: dict[str, CounterValue] = {"total": {"n": 7, "hw": {"0": 1}}}

    def read(key: str) -> CounterValue | None:
        reads.append(key)
        return table.get(key)

    pending = PendingCounters(read)
    pending.fold(delta(0, 2, total=1))
    pending.fold(delta(0, 3, total=1))
    assert reads == ["total"]
    assert pending.take()["total"] == {"n": 9, "hw": {"0": 3}}
