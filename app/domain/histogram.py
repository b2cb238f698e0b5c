"""Volume over time: a query's filters plus ``interval`` → buckets, their SQL, and the answer.

Pure, so the bucket choice and the SQL are unit-tested without a server.
Counts come from PostgreSQL over the query's time range (the last 24 hours
when none is given), grouped per bucket and level; empty buckets are
filled in so a chart needs no gaps logic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from app.domain.query import LogQuery, Params, _first
from app.domain.query_sql import _where
from app.errors import QueryError

AUTO_BUCKETS: Final = 60
MAX_BUCKETS: Final = 2000  # a chart cannot show more; more would only cost PostgreSQL and the browser
DEFAULT_RANGE: Final = timedelta(hours=24)
_INTERVAL: Final = re.compile(r"(\d{1,9})([smhd])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A row's (or a minute counter's) bucket, aligned to the epoch: date_bin is integer arithmetic, where
# extract(epoch ...) is numeric (on 186,600 counters: most of the statement's 118 ms). Only the
# buckets found are turned into epoch seconds, after grouping.
_ROW_BUCKET: Final = "date_bin(make_interval(secs => %(step)s), \"timestamp\", 'epoch'::timestamptz)"
_MINUTE_BUCKET: Final = "date_bin(make_interval(secs => %(step)s), minute, 'epoch'::timestamptz)"
_EPOCH: Final = "extract(epoch FROM bucket)::bigint"
# "auto" rounds to one of these, so bucket edges fall on whole minutes and hours.
_NICE_SECONDS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


@dataclass(frozen=True, slots=True)
class Histogram:
    start: datetime
    end: datetime
    seconds: int

    @property
    def first_bucket(self) -> datetime:
        epoch = math.floor(self.start.timestamp() / self.seconds) * self.seconds
        return datetime.fromtimestamp(epoch, UTC)


def auto_seconds(span: timedelta) -> int:
    """The smallest round bucket giving at most about :data:`AUTO_BUCKETS` buckets over ``span``."""
    wanted = span.total_seconds() / AUTO_BUCKETS
    for seconds in _NICE_SECONDS:
        if seconds >= wanted:
            return seconds
    return math.ceil(wanted / 86400) * 86400


def parse_histogram(params: Params, query: LogQuery, now: datetime) -> Histogram:
    """The range (the query's, else the last 24 hours up to ``now``) and the bucket width; raises QueryError."""
    end = query.end or now
    start = query.start or min(end, now) - DEFAULT_RANGE
    if start > end:
        raise QueryError("start", "order", "must not be after the end")
    found = _first(params, "interval")
    raw = found[1] if found else "auto"
    if raw == "auto":
        seconds = auto_seconds(end - start)
    elif match := _INTERVAL.fullmatch(raw):
        seconds = int(match[1]) * _UNIT_SECONDS[match[2]]
        if seconds == 0:
            raise QueryError("interval", "range", "must be longer than 0")
    else:
        raise QueryError("interval", "format", "must be auto or a number with s, m, h or d (30s, 5m, 1h, 1d)")
    histogram = Histogram(start, end, seconds)
    if bucket_count(histogram) > MAX_BUCKETS:
        raise QueryError("interval", "range", f"gives more than {MAX_BUCKETS} buckets over the range; widen it")
    return histogram


def bucket_count(histogram: Histogram) -> int:
    return math.floor((histogram.end - histogram.first_bucket).total_seconds() / histogram.seconds) + 1


def histogram_sql(query: LogQuery, histogram: Histogram) -> tuple[str, dict[str, Any]]:
    """Counts per bucket (its start, as epoch seconds) and level of the rows the query's filters match.

    Whole minutes come from ``log_volume`` and the deltas not yet folded into
    it (per minute, organization, source and level, kept by PostgreSQL's
    triggers; migration 007, :mod:`app.storage.volume`) when every
    filter is one it keeps and a bucket is whole minutes: only the range's
    ragged edges, less than a minute each, are counted row by row. Text and
    field filters count the rows themselves.
    """
    first, last = _whole_minutes(histogram)
    if query.text is not None or query.fields or histogram.seconds % 60 or first >= last:
        return histogram_sql_from_rows(query, histogram)
    conditions, args = _where(replace(query, start=None, end=None, cursor=None))
    kept = "".join(f" AND {c}" for c in conditions)
    args |= {"step": histogram.seconds, "start": histogram.start, "end": histogram.end, "first": first, "last": last}
    # Only constants are interpolated into the SQL text; every value is a parameter.
    rows = f"SELECT {_ROW_BUCKET} AS bucket, level, count(*) AS n FROM logs WHERE"  # noqa: S608
    sql = (
        f"SELECT {_EPOCH}, level, sum(n) FROM ("  # noqa: S608
        f" SELECT {_MINUTE_BUCKET} AS bucket, level, n FROM log_volume"
        f" WHERE minute >= %(first)s AND minute < %(last)s{kept}"
        f" UNION ALL SELECT {_MINUTE_BUCKET} AS bucket, level, n FROM log_volume_delta"
        f" WHERE minute >= %(first)s AND minute < %(last)s{kept}"
        f' UNION ALL {rows} "timestamp" >= %(start)s AND "timestamp" < %(first)s{kept} GROUP BY 1, 2'
        f' UNION ALL {rows} "timestamp" >= %(last)s AND "timestamp" <= %(end)s{kept} GROUP BY 1, 2'
        ") AS counted GROUP BY bucket, level HAVING sum(n) > 0 ORDER BY 1, 2"
    )
    return sql, args


def histogram_sql_from_rows(query: LogQuery, histogram: Histogram) -> tuple[str, dict[str, Any]]:
    """The same counts, every matching row counted: for the filters ``log_volume`` does not keep."""
    conditions, args = _where(query)
    if query.start is None:
        conditions.append('"timestamp" >= %(start)s')
        args["start"] = histogram.start
    if query.end is None:
        conditions.append('"timestamp" <= %(end)s')
        args["end"] = histogram.end
    args["step"] = histogram.seconds
    sql = (
        f"SELECT {_EPOCH}, level, n FROM (SELECT {_ROW_BUCKET} AS bucket, level, count(*) AS n FROM logs"  # noqa: S608
        f" WHERE {' AND '.join(conditions)} GROUP BY 1, 2) AS counted ORDER BY 1, 2"
    )
    return sql, args


def _whole_minutes(histogram: Histogram) -> tuple[datetime, datetime]:
    """The first and past-the-last minute lying wholly inside the range (``end`` counts, so its minute does not)."""
    first = math.ceil(histogram.start.timestamp() / 60) * 60
    last = math.floor(histogram.end.timestamp() / 60) * 60
    return datetime.fromtimestamp(first, UTC), datetime.fromtimestamp(last, UTC)


def histogram_body(histogram: Histogram, rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Every bucket from the range's first to its last, oldest first, each with its counts per level."""
    counts: dict[int, dict[str, int]] = {}
    for epoch, level, n in rows:
        counts.setdefault(int(epoch), {})[str(level)] = int(n)
    first = int(histogram.first_bucket.timestamp())
    buckets = []
    for i in range(bucket_count(histogram)):
        epoch = first + i * histogram.seconds
        levels = counts.get(epoch, {})
        start = datetime.fromtimestamp(epoch, UTC).isoformat()
        buckets.append({"start": start, "total": sum(levels.values()), "levels": levels})
    return {
        "start": histogram.start.isoformat(),
        "end": histogram.end.isoformat(),
        "interval_seconds": histogram.seconds,
        "buckets": buckets,
    }
