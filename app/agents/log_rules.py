"""Alerts on log queries: each rule of ``LOG_RULES_FILE`` counted over its window, as ``logpipe_log_rule_matches``.

Every ``LOG_RULES_INTERVAL`` seconds the worker that owns the count
table's partition (one worker at a time: :mod:`app.tables.counts`) counts
each rule's matches over its window with one ``COUNT`` per rule, bounded by
the window so an index serves it (:func:`app.domain.query_sql.window_count_sql`),
and sets ``logpipe_log_rule_matches{rule}``. Any other worker exports no
such series, and one that no longer owns the partition drops its own at its
next turn, so Prometheus sees one series per rule (two for at most an
interval while ownership moves: alert on ``max by (rule)``). Prometheus and
Alertmanager do the alerting; ``compose/`` has an example.

The file is read once, when the worker starts (:func:`read_rules`, from
:meth:`app.app.LogpipeApp.on_first_start`): a file that cannot be read or
breaks a rule stops the worker with the file, line, column and reason.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import aiopg

from app.domain.query_sql import window_count_sql
from app.domain.rules import LogRule, load_rules
from app.errors import ConfigError, StorageUnavailable
from app.ops.metrics import LOG_RULE_MATCHES
from app.storage import reads
from app.tables.counts import owns_count_table

if TYPE_CHECKING:
    from app.app import LogpipeApp

log = logging.getLogger(__name__)


def read_rules(path: str | None) -> tuple[LogRule, ...]:
    """The rules of the file at ``path`` (none without a path); :class:`ConfigError` (a :class:`RulesError`
    naming line, column and reason) when it cannot be used."""
    if path is None:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"LOG_RULES_FILE {path}: cannot be read: {exc}") from exc
    return tuple(load_rules(text, source_name=path))


async def count_matches(pool: aiopg.Pool, rules: Sequence[LogRule], now: datetime) -> dict[str, int]:
    """Each rule's matches with a timestamp in its window up to ``now``."""
    counts: dict[str, int] = {}
    for rule in rules:
        query = dataclasses.replace(rule.query, fields=rule.fields)
        rows = await reads.fetch_rows(pool, *window_count_sql(query, now - rule.window, now))
        counts[rule.name] = int(rows[0][0])
    return counts


async def export_matches(app: LogpipeApp) -> None:
    """One turn: on the count table's owner, count every rule and set its gauge; elsewhere, export none."""
    rules, database = app.services.log_rules, app.services.database
    if not owns_count_table(app):
        LOG_RULE_MATCHES.clear()
        return
    if not rules or not database.is_ready:
        return
    try:
        counts = await count_matches(database.pool, rules, datetime.now(UTC))
    except StorageUnavailable as exc:
        log.warning("log rules not counted this time (the last counts stay exported): %s", exc)
        return
    except Exception:  # a timer that raises stops the worker: a rule must never take ingest down
        log.exception("log rules not counted this time (the last counts stay exported)")
        return
    for name, matches in counts.items():
        LOG_RULE_MATCHES.labels(name).set(matches)


def register(app: LogpipeApp) -> None:
    """Count the log rules every ``LOG_RULES_INTERVAL`` seconds on ``app``'s worker, when a rules file is set."""
    if app.settings.log_rules_file is None:
        return

    @app.timer(interval=app.settings.log_rules_interval)  # type: ignore[untyped-decorator]  # Faust's is untyped
    async def log_rules() -> None:
        await export_matches(app)
