"""The events around one hit: ``before``/``after`` parameters → the SQL that finds them.

Pure, so parameter rules and the SQL are unit-tested without a server.
Context is the same source and organization as the hit, in time order,
which is what a reader of one service's log expects to see around a line.
The source index leads with ``(source, level)``, so each side walks one
index branch per level (a ``LATERAL`` over the levels, as
:mod:`app.domain.query_sql` does for a source) and stops after ``N`` rows each,
rather than sorting every event of the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from app.domain.query import Params, _int
from app.domain.query_sql import COLUMNS
from app.models import LEVELS

DEFAULT_CONTEXT: Final = 10
MAX_CONTEXT: Final = 500
_WALKED: Final = ", ".join(f"walked.{column.strip()}" for column in COLUMNS.split(","))


@dataclass(frozen=True, slots=True)
class ContextWindow:
    before: int = DEFAULT_CONTEXT
    after: int = DEFAULT_CONTEXT


def parse_context(params: Params) -> ContextWindow:
    """``before`` and ``after``: 0 to :data:`MAX_CONTEXT`, default :data:`DEFAULT_CONTEXT`; raises QueryError."""
    before = _int(params, ("before",), 0, MAX_CONTEXT)
    after = _int(params, ("after",), 0, MAX_CONTEXT)
    return ContextWindow(
        before=DEFAULT_CONTEXT if before is None else before,
        after=DEFAULT_CONTEXT if after is None else after,
    )


def context_sql(hit: tuple[Any, ...], rows: int, *, newer: bool) -> tuple[str, dict[str, Any]]:
    """Up to ``rows`` events of the hit's source and organization just older (or ``newer``) than it.

    ``hit`` is a row in :data:`~app.domain.query_sql.COLUMNS` order. Older rows come
    newest first and newer ones oldest first (nearest the hit first, so the
    index walk stops at ``rows``); the caller puts them in time order.
    A ``NULL`` organization is matched by ``IS NULL``, which the
    organization-free source index still serves.
    """
    args: dict[str, Any] = {
        "ts": hit[1],
        "id": str(hit[0]),
        "source": hit[4],
        "rows": rows,
        "levels": list(LEVELS),
    }
    if hit[5] is None:
        org = "logs.organization_id IS NULL"
    else:
        org = "logs.organization_id = %(org)s"
        args["org"] = hit[5]
    compare, order = (">", "ASC, id ASC") if newer else ("<", "DESC, id DESC")
    where = (
        f"logs.level = branch.level AND logs.source = %(source)s AND {org}"
        f' AND ("timestamp", id) {compare} (%(ts)s::timestamptz, %(id)s::uuid)'
    )
    # Only constants are interpolated into the SQL text; every value is a parameter.
    walk = f'SELECT {COLUMNS} FROM logs WHERE {where} ORDER BY "timestamp" {order} LIMIT %(rows)s'  # noqa: S608
    sql = (
        f"SELECT {_WALKED} FROM unnest(%(levels)s::text[]) AS branch(level)"  # noqa: S608
        f' CROSS JOIN LATERAL ({walk}) AS walked ORDER BY "timestamp" {order} LIMIT %(rows)s'
    )
    return sql, args
