"""Count aggregation: deltas from inserted rows, folding each once, snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.domain.counting import (
    CounterValue,
    by_scope,
    delta_from_rows,
    epoch_minute,
    fold,
    scope_of,
    scope_snapshot,
    table_key,
    tenant_counter,
)

NOW = datetime(2026, 11, 23, 12, 30, 15, tzinfo=UTC)
MIN = epoch_minute(NOW)


def snapshot(
    items: list[tuple[str, dict[str, Any]]], now: datetime, top_sources: int, tenant: str | None = None
) -> dict[str, Any]:
    """The stats answer from the table's pairs, as the owner's in-memory copy gives it (by scope)."""
    return scope_snapshot(by_scope(items).get(scope_of(tenant), {}), now, top_sources, tenant)


def test_delta_counts_by_level_source_org_total_and_minute() -> None:
    rows = [("INFO", "api", "acme"), ("INFO", "db", None), ("ERROR", "api", "acme")]
    assert delta_from_rows(rows, MIN) == {
        "level:INFO": 2,
        "level:ERROR": 1,
        "source:api": 2,
        "source:db": 1,
        "org:acme": 2,
        "total": 3,
        f"minute:{MIN}": 3,
        tenant_counter("acme", "level:INFO"): 1,
        tenant_counter("acme", "level:ERROR"): 1,
        tenant_counter("acme", "source:api"): 2,
        tenant_counter("acme", "total"): 2,
        tenant_counter("acme", f"minute:{MIN}"): 2,
    }


def test_nothing_inserted_is_an_empty_delta() -> None:
    assert delta_from_rows([], MIN) == {}


@pytest.mark.parametrize(
    ("counter", "key"),
    [
        ("level:INFO", "level:INFO"),
        ("total", "total"),
        (f"minute:{MIN}", f"minute:{MIN % 60:02d}"),
        (tenant_counter("a:b", f"minute:{MIN}"), tenant_counter("a:b", f"minute:{MIN % 60:02d}")),
        (tenant_counter("acme", "level:INFO"), tenant_counter("acme", "level:INFO")),
    ],
)
def test_table_keys(counter: str, key: str) -> None:
    assert table_key(counter) == key


def test_fold_adds_each_delta_once() -> None:
    value = fold(None, "level:INFO", 5, partition=0, offset=10)
    assert value == {"n": 5, "hw": {"0": 10}}
    value = fold(value, "level:INFO", 3, partition=1, offset=4)
    assert value == {"n": 8, "hw": {"0": 10, "1": 4}}
    assert fold(value, "level:INFO", 5, partition=0, offset=10) is None, "a redelivered delta"
    assert fold(value, "level:INFO", 2, partition=0, offset=9) is None, "an older delta"
    assert fold(value, "level:INFO", 1, partition=0, offset=11) == {"n": 9, "hw": {"0": 11, "1": 4}}


def test_minute_slots_reset_for_a_new_minute_and_ignore_old_ones() -> None:
    counter = f"minute:{MIN}"
    value = fold(None, counter, 4, 0, 1)
    assert value == {"n": 4, "m": MIN, "hw": {"0": 1}}
    value = fold(value, counter, 1, 0, 2)
    assert value is not None and value["n"] == 5
    later = fold(value, f"minute:{MIN + 60}", 7, 0, 3)
    assert later == {"n": 7, "m": MIN + 60, "hw": {"0": 3}}
    assert fold(later, counter, 1, 0, 4) is None, "the slot now counts a later minute"


def test_redelivered_sequence_gives_the_same_total() -> None:
    deltas = [(0, 10, 5), (1, 3, 2), (0, 20, 1), (0, 10, 5), (1, 3, 2), (1, 9, 4)]
    value: CounterValue | None = None
    for partition, offset, n in deltas:
        new = fold(value, "total", n, partition, offset)
        value = new if new is not None else value
    assert value is not None and value["n"] == 5 + 2 + 1 + 4


def test_snapshot() -> None:
    items = [
        ("total", {"n": 10}),
        ("level:INFO", {"n": 7}),
        ("level:ERROR", {"n": 3}),
        ("source:api", {"n": 6}),
        ("source:db", {"n": 3}),
        ("source:cron", {"n": 1}),
        ("org:acme", {"n": 4}),
        (f"minute:{MIN % 60:02d}", {"n": 6, "m": MIN}),
        (f"minute:{(MIN - 1) % 60:02d}", {"n": 4, "m": MIN - 1}),
        (f"minute:{(MIN - 2) % 60:02d}", {"n": 99, "m": MIN - 62}),
    ]
    stats = snapshot(items, NOW, top_sources=2)
    assert stats["total"] == 10
    assert stats["levels"] == {"ERROR": 3, "INFO": 7}
    assert stats["sources"] == {"api": 6, "db": 3}
    assert stats["source_count"] == 3
    assert stats["organizations"] == {"acme": 4}
    assert len(stats["per_minute"]) == 60
    assert stats["per_minute"][-1] == {"minute": "2026-11-23T12:30:00+00:00", "count": 6}
    assert stats["per_minute"][-2]["count"] == 4
    assert sum(m["count"] for m in stats["per_minute"]) == 10, "a stale slot is not counted"


def test_tenant_minute_slots_fold_like_plain_ones() -> None:
    counter = tenant_counter("acme", f"minute:{MIN}")
    value = fold(None, counter, 2, 0, 1)
    assert value == {"n": 2, "m": MIN, "hw": {"0": 1}}
    assert fold(value, tenant_counter("acme", f"minute:{MIN - 60}"), 1, 0, 2) is None, "an older minute"


def test_a_tenant_snapshot_holds_only_its_own_counters() -> None:
    rows = [("INFO", "api", "acme"), ("ERROR", "db", "globex"), ("WARN", "api", None), ("INFO", "web", "acme")]
    delta = delta_from_rows(rows, MIN)
    items = [(table_key(k), {"n": n, "m": MIN} if "minute:" in k else {"n": n}) for k, n in delta.items()]

    everyone = snapshot(items, NOW, top_sources=10)
    assert everyone["total"] == 4
    assert everyone["levels"] == {"ERROR": 1, "INFO": 2, "WARN": 1}
    assert everyone["organizations"] == {"acme": 2, "globex": 1}

    acme = snapshot(items, NOW, top_sources=10, tenant="acme")
    assert acme["total"] == 2
    assert acme["levels"] == {"INFO": 2}
    assert acme["sources"] == {"api": 1, "web": 1}
    assert acme["organizations"] == {"acme": 2}
    assert acme["per_minute"][-1]["count"] == 2

    nobody = snapshot(items, NOW, top_sources=10, tenant="initech")
    assert nobody["total"] == 0 and nobody["levels"] == {} and nobody["organizations"] == {}


def test_by_scope_groups_counters_by_tenant_without_their_prefix() -> None:
    delta = delta_from_rows([("INFO", "api", "acme"), ("WARN", "db", None)], MIN)
    items = [(table_key(k), {"n": n, "m": MIN} if "minute:" in k else {"n": n}) for k, n in delta.items()]
    scopes = by_scope(items)
    assert set(scopes) == {scope_of(None), scope_of("acme")}
    assert scopes[scope_of("acme")]["level:INFO"] == {"n": 1}
    assert scopes[scope_of(None)]["total"] == {"n": 2}
    assert scopes[scope_of("acme")]["total"] == {"n": 1}
