"""Prometheus metrics of logpipe (prometheus-client), defined once, here.

Names follow Prometheus conventions: ``_total`` counters, base units,
labels of bounded cardinality only.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

CACHE_REQUESTS: Final = Counter(
    "logpipe_cache_requests_total",
    "Response-cache lookups by kind (query, stats) and result (hit, miss, error).",
    ["kind", "result"],
)
