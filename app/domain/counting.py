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

A table whose changelog is gone (a dev broker that came back empty) is
rebuilt from the rows (:func:`rebuilt_counters`), read in one PostgreSQL
snapshot. Each delta carries the id of the transaction that recorded it,
and the rows of a transaction the snapshot saw are already counted:
:meth:`Snapshot.saw` says which deltas to leave out after a rebuild.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypedDict

TOTAL: Final = "total"
MINUTE: Final = "minute:"
WINDOW_MINUTES: Final = 60
TENANT: Final = "tenant:"
BASE: Final = "~base"  # the table's record of its last rebuild from the rows; no counter starts with "~"
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


def _by_kind(groups: Iterable[tuple[str, str, str | None, int]]) -> Counter[str]:
    """Level, source and organization counters (and each per organization) of ``(level, source, org, n)``."""
    counts: Counter[str] = Counter()
    for level, source, organization_id, n in groups:
        counts["level:" + level] += n
        counts["source:" + source] += n
        if organization_id is not None:
            counts["org:" + organization_id] += n
            counts[tenant_counter(organization_id, "level:" + level)] += n
            counts[tenant_counter(organization_id, "source:" + source)] += n
    total = sum(v for k, v in counts.items() if k.startswith("level:"))
    if total:
        counts[TOTAL] = total
    # A tenant's total is its org counter.
    for key, n in [(k, v) for k, v in counts.items() if k.startswith("org:")]:
        counts[tenant_counter(key[len("org:") :], TOTAL)] = n
    return counts


def delta_from_rows(rows: Iterable[tuple[str, str, str | None]], minute: int) -> dict[str, int]:
    """Counts of inserted ``(level, source, organization_id)`` rows, by counter key."""
    counts = _by_kind((level, source, organization_id, 1) for level, source, organization_id in rows)
    if counts:
        counts[f"{MINUTE}{minute}"] = counts[TOTAL]
        for key, n in [(k, v) for k, v in counts.items() if k.startswith("org:")]:
            counts[tenant_counter(key[len("org:") :], f"{MINUTE}{minute}")] = n
    return dict(counts)


def rebuilt_counters(
    groups: Iterable[tuple[str, str, str | None, int]], minutes: Iterable[tuple[int, str | None, int]]
) -> dict[str, CounterValue]:
    """The whole table, by table key, from the rows: ``(level, source, organization_id, n)`` groups, and
    ``(epoch minute, organization_id, n)`` of the rows stored in the last hour (by their ``received_at``)."""
    counts = _by_kind(groups)
    for minute, organization_id, n in minutes:
        counts[f"{MINUTE}{minute}"] += n
        if organization_id is not None:
            counts[tenant_counter(organization_id, f"{MINUTE}{minute}")] += n
    table: dict[str, CounterValue] = {}
    for counter, n in counts.items():
        value: CounterValue = {"n": n, "hw": {}}
        _, base = split_scope(counter)
        if base.startswith(MINUTE):
            value["m"] = int(base[len(MINUTE) :])
        table[table_key(counter)] = value
    return table


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A PostgreSQL snapshot (``pg_current_snapshot()``): which transactions a read saw committed."""

    xmin: int
    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """From ``xmin:xmax:xip,...``, PostgreSQL's text form."""
        xmin, xmax, running = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in running.split(",") if x))

    def saw(self, xid: int) -> bool:
        """Whether a committed transaction ``xid`` had committed for a read in this snapshot."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.running)


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
        if counter == BASE:
            continue
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
