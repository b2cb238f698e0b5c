"""Prometheus metrics of logpipe (prometheus-client), defined once, here.

Names follow Prometheus conventions: ``_total`` counters, base units
(seconds, bytes), and labels of bounded cardinality only: routes are route
templates, reasons an enum, partitions bounded by the partition count;
never an event id or a free-form source. Each worker serves its own
``/metrics`` on its own port, so every worker is scraped on its own
(no multiprocess mode needed). Faust's own sensor metrics (``faust_*``) are
registered beside these by :mod:`app.app`.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

_SIZES: Final = (1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000)
_SECONDS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LATENCY: Final = (0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)

HTTP_REQUESTS: Final = Counter(
    "logpipe_http_requests_total", "HTTP requests by route template, method and status.", ["route", "method", "status"]
)
HTTP_SECONDS: Final = Histogram(
    "logpipe_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["route", "method"],
    buckets=_SECONDS,
)
#: The ways events come in, as the ``protocol`` label of the ingest metrics says them.
PROTOCOLS: Final = ("native", "otlp", "loki", "elasticsearch", "syslog", "logging")
EVENTS_ACCEPTED: Final = Counter(
    "logpipe_events_accepted_total", "Events accepted by ingest (broker acknowledged), by protocol.", ["protocol"]
)
EVENTS_REJECTED: Final = Counter(
    "logpipe_events_rejected_total",
    "Events refused by ingest for breaking a rule, by protocol and rule.",
    ["protocol", "rule"],
)
EVENTS_VALIDATED: Final = Counter("logpipe_events_validated_total", "logs.raw records that became valid events.")
EVENTS_DEAD_LETTERED: Final = Counter(
    "logpipe_events_dead_lettered_total", "Records written to logs.dlq, by reason.", ["reason"]
)
EVENTS_REPLAYED: Final = Counter("logpipe_events_replayed_total", "Dead letters resent to logs.raw by a replay.")
EVENTS_PERSISTED: Final = Counter("logpipe_events_persisted_total", "Rows inserted into PostgreSQL.")
EVENTS_DUPLICATE: Final = Counter(
    "logpipe_events_duplicate_total", "Events skipped because their id was already stored (replays)."
)
PERSIST_BATCH_EVENTS: Final = Histogram(
    "logpipe_persist_batch_events", "Events per persisted partition batch.", buckets=_SIZES
)
PERSIST_BATCH_SECONDS: Final = Histogram(
    "logpipe_persist_batch_duration_seconds",
    "Time to write one partition batch (rows + count delta), including its wait for the batch before it to commit.",
    buckets=_SECONDS,
)
POSTGRES_RETRIES: Final = Counter(
    "logpipe_postgres_retries_total", "Attempts that found PostgreSQL unavailable and were retried."
)
CONSUMER_LAG: Final = Gauge(
    "logpipe_consumer_lag_records",
    "Records not yet processed, by consumer group role, topic and partition.",
    ["group", "topic", "partition"],
)
EVENT_LATENCY: Final = Histogram(
    "logpipe_event_latency_seconds",
    "Event timestamp to persisted in PostgreSQL (sampled: up to 64 events per batch).",
    buckets=_LATENCY,
)
TAIL_CLIENTS: Final = Gauge("logpipe_tail_clients", "Live-tail clients connected to this worker.")
TAIL_DROPPED: Final = Counter("logpipe_tail_dropped_total", "Live-tail clients dropped for falling behind.")
CACHE_REQUESTS: Final = Counter(
    "logpipe_cache_requests_total",
    "Response-cache lookups by kind (query, event, stats) and result (hit: fresh, miss: none fresh, error).",
    ["kind", "result"],
)
RATE_LIMITED: Final = Counter(
    "logpipe_rate_limited_total", "Requests answered 429 by a rate limit, by limit (ingest, batch, query).", ["limit"]
)
RATE_LIMIT_DECISIONS: Final = Counter(
    "logpipe_rate_limit_decisions_total",
    "Rate-limit decisions by where they were made: redis (exact across workers) or local (Redis away).",
    ["where"],
)
PIPELINE_LAG: Final = Gauge(
    "logpipe_pipeline_lag_records", "logs.events records not yet committed by the persist stage (all partitions)."
)
BACKPRESSURE_ACTIVE: Final = Gauge(
    "logpipe_backpressure_active", "1 while ingest answers 429 because the persist stage lags too far behind."
)
BROKER_REACHABLE: Final = Gauge("logpipe_broker_reachable", "1 while this worker reaches the broker.")
INGEST_SHED: Final = Counter(
    "logpipe_ingest_shed_total",
    "Ingest requests refused to protect the pipeline, by protocol and reason.",
    ["protocol", "reason"],
)
SYSLOG_DROPPED: Final = Counter(
    "logpipe_syslog_dropped_total",
    "Syslog UDP datagrams dropped unread (UDP cannot push back on a sender), by reason.",
    ["reason"],
)
CIRCUIT_STATE: Final = Gauge(
    "logpipe_circuit_state", "Circuit breaker state by dependency: 0 closed, 1 half-open, 2 open.", ["dependency"]
)
CIRCUIT_TRANSITIONS: Final = Counter(
    "logpipe_circuit_transitions_total",
    "Circuit breaker transitions by dependency and the state entered.",
    ["dependency", "state"],
)
STALE_ANSWERS: Final = Counter(
    "logpipe_stale_answers_total",
    "Reads answered from a cached answer past its TTL because PostgreSQL was unavailable, by kind.",
    ["kind"],
)
LOG_RULE_MATCHES: Final = Gauge(
    "logpipe_log_rule_matches",
    "Events matching each log rule of LOG_RULES_FILE within its window, by rule name; exported only by the worker "
    "that owns the count table, so there is one series per rule.",
    ["rule"],
)
for _kind in ("query", "event", "stats"):  # exported at 0 from the start, so rate() sees the first stale answer
    STALE_ANSWERS.labels(_kind)

for _protocol in PROTOCOLS:  # every series exists from the start, so rate() sees its first increase
    EVENTS_ACCEPTED.labels(_protocol)
