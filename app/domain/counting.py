"""Live counts as pure functions: batch deltas, folding them once, snapshots.

The persist agent turns the rows PostgreSQL *really inserted* into a delta
(``{"level:INFO": 12, "source:api": 3, ...}``), tagged with the
``logs.events`` partition and the last offset of the batch. The stats agent
folds each delta into the count table through :func:`fold`, which keeps per
counter the highest offset applied from each partition (the *high-water
mark*) and ignores anything at or below it: a delta delivered twice (after a
crash between producing it and forgetting it) is counted once.

Every counter of an event with an ``organization_id`` is kept a second time
under that organization (:func:`tenant_counter`), so a tenant's API key
gets its own exact stats from the same table, without a query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

TOTAL: Final = "total"
MINUTE: Final = "minute:"
WINDOW_MINUTES: Final = 60
TENANT: Final = "tenant:"
_SEP: Final = "\x1f"  # organization ids are printable, so this never occurs in one


def tenant_counter(organization_id: str, counter: str) -> str:
    """``counter`` counting only ``organization_id``'s events (what a tenant's stats show)."""
    return f"{TENANT}{organization_id}{_SEP}{counter}"


def split_scope(counter: str) -> tuple[str, str]:
    """``(tenant prefix or "", the plain counter)``."""
    if counter.startswith(TENANT):
        prefix, sep, base = counter.partition(_SEP)
        if sep:
            return prefix + sep, base
    return "", counter


class CounterValue(TypedDict, total=False):
    """A counter as stored in the table."""

    n: int
    hw: dict[str, int]  # logs.events partition -> last offset folded in
    m: int  # minute counters only: the epoch minute this slot counts


def delta_from_rows(rows: Iterable[tuple[str, str, str | None]], minute: int) -> dict[str, int]:
    """Counts of inserted ``(level, source, organization_id)`` rows, by counter key."""
    counts: Counter[str] = Counter()
    for level, source, organization_id in rows:
        counts["level:" + level] += 1
        counts["source:" + source] += 1
        if organization_id is not None:
            counts["org:" + organization_id] += 1
            counts[tenant_counter(organization_id, "level:" + level)] += 1
            counts[tenant_counter(organization_id, "source:" + source)] += 1
    total = sum(v for k, v in counts.items() if k.startswith("level:"))
    if total:
        counts[TOTAL] = total
        counts[f"{MINUTE}{minute}"] = total
    # A tenant's total and this minute's count are its org counter: set once per batch, not per row.
    for key, n in [(k, v) for k, v in counts.items() if k.startswith("org:")]:
        organization_id = key[len("org:") :]
        counts[tenant_counter(organization_id, TOTAL)] = n
        counts[tenant_counter(organization_id, f"{MINUTE}{minute}")] = n
    return dict(counts)


def epoch_minute(now: datetime) -> int:
    return int(now.timestamp()) // 60


def table_key(counter: str) -> str:
    """Minute counters live in one of 60 slots, so the table stays bounded."""
    prefix, base = split_scope(counter)
    if base.startswith(MINUTE):
        return f"{prefix}{MINUTE}{int(base[len(MINUTE) :]) % WINDOW_MINUTES:02d}"
    return counter


def fold(current: CounterValue | None, counter: str, n: int, partition: int, offset: int) -> CounterValue | None:
    """``current`` with ``n`` added, or ``None`` when this delta was already folded in."""
    hw_key = str(partition)
    _, base = split_scope(counter)
    if base.startswith(MINUTE):
        minute = int(base[len(MINUTE) :])
        if current is None or current.get("m", -1) < minute:
            return {"n": n, "m": minute, "hw": {hw_key: offset}}
        if current.get("m") != minute:
            return None  # a slot already reused for a later minute
    elif current is None:
        return {"n": n, "hw": {hw_key: offset}}
    hw = current.get("hw", {})
    if hw.get(hw_key, -1) >= offset:
        return None
    return {**current, "n": current.get("n", 0) + n, "hw": {**hw, hw_key: offset}}


def scope_of(tenant: str | None) -> str:
    """The prefix of ``tenant``'s counters ("" for the counters of all events)."""
    return tenant_counter(tenant, "") if tenant is not None else ""


def by_scope(items: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """The table's ``(key, value)`` pairs grouped by scope (see :func:`scope_of`), keys without the prefix."""
    scopes: dict[str, dict[str, Mapping[str, Any]]] = {}
    for counter, value in items:
        prefix, base = split_scope(counter)
        scopes.setdefault(prefix, {})[base] = value
    return scopes


def scope_snapshot(
    counters: Mapping[str, Mapping[str, Any]], now: datetime, top_sources: int, tenant: str | None = None
) -> dict[str, Any]:
    """The stats answer from one scope's counters (keys without the tenant prefix)."""
    by_kind: dict[str, dict[str, int]] = {"level": {}, "source": {}, "org": {}}
    minutes: dict[int, int] = {}
    total = 0
    this_minute = epoch_minute(now)
    for key, value in counters.items():
        n = int(value.get("n", 0))
        kind, _, name = key.partition(":")
        if key == TOTAL:
            total = n
        elif kind in by_kind:
            by_kind[kind][name] = n
        elif kind == "minute":
            minute = int(value.get("m", -1))
            if this_minute - WINDOW_MINUTES < minute <= this_minute:
                minutes[minute] = n
    sources, orgs = by_kind["source"], by_kind["org"]
    top = sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))[:top_sources]
    per_minute = [
        {"minute": datetime.fromtimestamp(m * 60, UTC).isoformat(), "count": minutes.get(m, 0)}
        for m in range(this_minute - WINDOW_MINUTES + 1, this_minute + 1)
    ]
    return {
        "total": total,
        "levels": dict(sorted(by_kind["level"].items())),
        "sources": dict(top),
        "source_count": len(sources),
        "organizations": dict(sorted(orgs.items())) if tenant is None else ({tenant: total} if total else {}),
        "per_minute": per_minute,
    }
