"""Text and field filters looked for among the newest rows first, in walks that grow, before any GIN index is asked.

A GIN index (full text on ``message``, ``jsonb_path_ops`` on ``metadata``)
finds every match and a sort orders them, so its cost grows with the
matches: a phrase in one row of seven took ~1.1 s on 10M rows. Walking the
newest rows in index order and testing each finds a common match's page
after a few hundred rows. :func:`recent_sql` is that walk,
:func:`first_scan` and :func:`next_scan` say how far it goes before the GIN
form (:func:`app.domain.query_sql.select_sql`) is asked instead. With field
filters the GIN form is asked over growing time windows first
(:func:`gin_windows`). Pure, as :mod:`app.domain.query_sql` is.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime, timedelta
from typing import Any, Final

from app.domain.field_filters import field_conditions
from app.domain.query import LogQuery, parse_time
from app.domain.query_sql import _FTS_DOC, _FTS_QUERY, _ORDER, COLUMNS, _after_cursor, _newest_sql, _where

RECENT_SCAN: Final = 20  # rows a walk first tests per row the page needs
MAX_RECENT_SCAN: Final = 50_000  # the most rows a full-text walk tests before the GIN index is asked
# A walk that tests the query's words first (required_terms) costs a third as much a row or less
# (50,000 rows on 10M: 23.5 -> 10.4 ms; on 1M: 57-60 -> 17-18 ms), so it walks three times as far
# for the same time: a phrase behind a burst of 80,000 other events took 1.1-1.4 s through the GIN
# index, and 13-23 ms walked (a rare word: 2.4-3.7 -> 3.9-5.1 ms). A field filter alone (a jsonb
# containment, no text parsed) costs no more a row than the prefiltered text test.
PREFILTERED_SCAN_FACTOR: Final = 3
_PLAIN_WORDS: Final = re.compile(r'[A-Za-z0-9\s"]+')
_LONGEST_LEXEME: Final = 2047  # longer words are left out of a tsvector and of a tsquery alike
# After a burst of events without the field, a common value is past every walk, and the GIN form sorted all its
# matches: status=500 behind 200,000 such events took 271 ms on 1M rows (100,000 matches), and grows with them.
# Asked for the newest 10 minutes first, then an hour, ..., the same page took 15 ms; a rare value costs a few
# probes of ~2.5 ms each instead of one.
GIN_WINDOWS: Final = (timedelta(minutes=10), timedelta(hours=1), timedelta(hours=6), timedelta(hours=36))


def recent_sql(query: LogQuery, scan: int | None = None) -> tuple[str, dict[str, Any]] | None:
    """The page among the ``scan`` newest rows that the other filters allow, tested for the query's text and
    field filters; ``None`` when it has neither, or is ranked (ranking needs every match).

    If the page is full within the rows walked it is exactly the page the
    GIN form returns (the rows passed are the newest ones); if not, see
    :func:`next_scan`. ``scan`` defaults to :func:`first_scan`.
    """
    if (query.text is None and not query.fields) or query.ranked:
        return None
    conditions, args = _where(query, levels=False, text=False, fields=False)
    _after_cursor(query, conditions, args)
    newest = _newest_sql(query, conditions, args, scan or first_scan(query))
    args["page_rows"], args["page_skip"] = query.limit + 1, query.offset
    matches, field_args = field_conditions(query.fields)
    args |= field_args
    if query.text is not None:
        args["q"] = query.text
        matches.append(f"{_FTS_DOC} @@ {_FTS_QUERY}")
        if terms := required_terms(query.text):
            args["q_terms"] = [f"%{term}%" for term in terms]
            matches.insert(0, "lower(message) LIKE ALL (%(q_terms)s)")
    # Only constants are interpolated into the SQL text; every value is a parameter.
    sql = (
        f"SELECT {COLUMNS} FROM ({newest}) AS newest WHERE {' AND '.join(matches)}"  # noqa: S608
        f" ORDER BY {_ORDER} LIMIT %(page_rows)s OFFSET %(page_skip)s"
    )
    return sql, args


@functools.lru_cache(maxsize=256)  # asked for each walk and each bound of one request
def required_terms(text: str) -> tuple[str, ...]:
    """Words every match contains in its lowercased message; none where that cannot be told from the text.

    A walk over the newest rows runs ``to_tsvector`` on each row it passes
    (1.2-5 µs), and after a burst of other events most of them do not
    match. ``lower(message) LIKE '%word%'`` costs a fifth of that (measured
    on 50,000 non-matching rows: 230-290 ms against 35-52 ms, both words
    tested) and rejects those rows before ``to_tsvector`` is run. It is only
    a necessary condition: a ``simple`` lexeme is a lowercased piece of the
    message, so a row whose tsvector holds the word holds it in
    ``lower(message)`` too, and the full-text test still decides.

    Only plain text (ASCII letters, digits, spaces, quotes) is read this way,
    which the parser turns into exactly these lexemes; ``or`` makes its words
    optional, and anything else (``-`` negation, punctuation, other
    alphabets) gets no prefilter rather than a wrong one.
    """
    if not _PLAIN_WORDS.fullmatch(text):
        return ()
    words = text.replace('"', " ").lower().split()
    if "or" in words:
        return ()
    return tuple(dict.fromkeys(word for word in words if len(word) <= _LONGEST_LEXEME))


def _scan_factor(query: LogQuery) -> int:
    if query.text is None:
        return PREFILTERED_SCAN_FACTOR  # field filters only
    return PREFILTERED_SCAN_FACTOR if required_terms(query.text) else 1


def first_scan(query: LogQuery) -> int:
    """The newest rows a walk tests first: :data:`RECENT_SCAN` per row the page needs."""
    return RECENT_SCAN * (query.offset + query.limit + 1) * _scan_factor(query)


def max_scan(query: LogQuery) -> int:
    """The most rows a walk tests before the GIN index is asked: the same time, prefiltered or not."""
    return MAX_RECENT_SCAN * _scan_factor(query)


def next_scan(query: LogQuery, scanned: int, found: int) -> int | None:
    """How many newest rows to walk next, after ``found`` rows of the page among ``scanned``; ``None``: ask GIN.

    No match at all means a rare text or field value, which a GIN index
    finds in a few milliseconds. Some matches mean it thinned out among the
    newest rows (by a burst of other events, say): the walk grows, at least
    fourfold and to twice what the density seen so far says the page needs,
    up to :func:`max_scan` rows (~60 ms), the most a walk may cost
    before the GIN index is asked after all.
    """
    skip, most = query.offset, max_scan(query)
    matches = skip + found if found else 0
    if matches == 0 or scanned >= most:
        return None
    estimate = scanned * (skip + query.limit + 1) / matches
    if estimate > most:
        return None
    return min(most, max(4 * scanned, math.ceil(2 * estimate)))


def gin_windows(query: LogQuery, now: datetime) -> list[datetime]:
    """Lower time bounds to ask the GIN form within first, newest first, for a query with field filters.

    Each is counted back from where the page starts (its cursor, its end,
    or ``now``) by :data:`GIN_WINDOWS`; bounds at or before the query's own
    start are left out, as the query itself covers them. A window that holds
    more rows than the page needs holds exactly the page (every row newer
    than its bound was considered); otherwise the next one is asked, and in
    the end the query without a bound.
    """
    if not query.fields or query.ranked:
        return []
    anchor = parse_time("cursor", query.cursor.timestamp) if query.cursor else (query.end or now)
    return [anchor - window for window in GIN_WINDOWS if query.start is None or anchor - window > query.start]
