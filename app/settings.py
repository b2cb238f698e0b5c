"""Every setting of logpipe, read from the environment (12-factor).

Nothing else in the package reads ``os.environ``: code asks for
:func:`get_settings` and gets one frozen, validated object.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.admission import EventRules


class Settings(BaseSettings):
    """logpipe's configuration; each field is set by the upper-case env var of its name."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    # -- where things are ------------------------------------------------------------
    kafka_broker_url: str = Field(
        "kafka://127.0.0.1:9092",
        description="KAFKA_BROKER_URL: bootstrap servers, `kafka://host:port[;host:port]`.",
    )
    database_url: SecretStr = Field(
        SecretStr("postgresql://postgres@127.0.0.1:5432/logpipe"),
        description="DATABASE_URL: PostgreSQL URL; the database is created when missing.",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="REDIS_URL.")

    # -- Faust app and topics --------------------------------------------------------
    app_id: str = Field("logpipe", description="APP_ID: Faust app id and consumer group.")
    topic_partitions: int = Field(4, ge=1, description="TOPIC_PARTITIONS of our topics.")
    topic_replication: int = Field(1, ge=1, description="TOPIC_REPLICATION factor.")
    topic_declare: bool = Field(
        True,
        description="TOPIC_DECLARE: create topics at start; false where the cluster forbids it.",
    )
    store: str = Field("rocksdb://", description="STORE: table store, `rocksdb://` or `memory://`.")
    data_dir: str = Field("var/worker", description="DATA_DIR: where Faust keeps table stores.")
    web_port: int = Field(6066, description="WEB_PORT of this worker's HTTP server.")
    web_host: str = Field(
        "127.0.0.1", description="WEB_HOST: this worker's host name as other workers reach it (stats routing)."
    )
    web_bind: str | None = Field(None, description="WEB_BIND: the address the HTTP server binds (default WEB_HOST).")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="PROCESSING_GUARANTEE; exactness of rows and counts does not rely on it.",
    )
    broker_session_timeout: float = Field(
        10.0, gt=0, description="BROKER_SESSION_TIMEOUT seconds before a dead worker is evicted."
    )

    broker_retry_max_delay: float = Field(
        5.0,
        gt=0,
        description="BROKER_RETRY_MAX_DELAY: cap of the backoff while the broker refuses what a stage produces.",
    )
    topic_declare_attempts: int = Field(
        15, ge=1, description="TOPIC_DECLARE_ATTEMPTS: tries to create the topics at start before the worker gives up."
    )

    broker_fetch_max_wait: float = Field(
        0.1,
        gt=0,
        le=30,
        description="BROKER_FETCH_MAX_WAIT seconds a fetch may wait at the broker while no records are there, "
        "for every consumer logpipe runs: an idle consumer asks again this often, and on a broker that answers a "
        "waiting fetch only when the wait ends (tansu, the dev broker) a record waits up to this long.",
    )

    table_recovery_check: bool = Field(
        True,
        description="TABLE_RECOVERY_CHECK: a worker refuses to start a table whose local store has read further "
        "than the broker's end of its changelog (Faust's recovery consistency check). The dev broker (tansu) "
        "reports the end of a partition as the first offset of its last record batch plus one, so devstack turns "
        "the check off there; on Apache Kafka keep it on.",
    )

    # -- validate stage (logs.raw) ---------------------------------------------------
    raw_max_bytes: int = Field(
        128 * 1024, description="RAW_MAX_BYTES: a logs.raw record larger than this is too_large."
    )
    validate_max_records: int = Field(5000, ge=1, description="VALIDATE_MAX_RECORDS fetched per poll of logs.raw.")
    envelope_max_bytes: int = Field(256 * 1024, ge=1024, description="ENVELOPE_MAX_BYTES of one logs.events record.")

    # -- persist agent ---------------------------------------------------------------
    persist_batch_envelopes: int = Field(64, ge=1, description="PERSIST_BATCH_ENVELOPES gathered by one stream.take().")
    persist_linger: float = Field(0.02, gt=0, description="PERSIST_LINGER seconds stream.take() waits to fill a batch.")
    pg_pool_size: int = Field(4, ge=1, description="PG_POOL_SIZE connections per worker.")
    pg_retry_max_delay: float = Field(
        5.0, gt=0, description="PG_RETRY_MAX_DELAY: cap of the backoff while PostgreSQL is away."
    )
    pg_breaker_failures: int = Field(
        3,
        ge=1,
        description="PG_BREAKER_FAILURES: consecutive failed reads that open the PostgreSQL circuit breaker; "
        "while it is open reads answer from the cache (marked stale) or 503 at once, never waiting on PostgreSQL.",
    )
    pg_breaker_reset: float = Field(
        5.0,
        gt=0,
        description="PG_BREAKER_RESET seconds the breaker stays open before one probe read is let through "
        "(half-open); the probe's success closes it.",
    )
    pg_read_timeout: float = Field(
        10.0,
        gt=0,
        description="PG_READ_TIMEOUT seconds a read may wait for a connection and its answer before it counts "
        "as a failure: a PostgreSQL behind a silent network answers nothing, never an error.",
    )

    # -- HTTP ingest -----------------------------------------------------------------
    ingest_max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="INGEST_MAX_BODY_BYTES: larger request bodies get 413."
    )
    ingest_batch_max_items: int = Field(10_000, ge=1, description="INGEST_BATCH_MAX_ITEMS per batch request.")
    ingest_linger: float = Field(
        0.0,
        ge=0,
        description="INGEST_LINGER: seconds a request waits for others to share its envelope; 0 (default): "
        "only requests of the same event-loop turn share one (lowest latency; measured 5.4 -> 1.9 ms p50).",
    )
    ingest_busy_linger: float = Field(
        0.005,
        ge=0,
        description="INGEST_BUSY_LINGER: longest an envelope gathers while the one before awaits its ack; 0 = off.",
    )
    ingest_max_waiting: int = Field(
        1_000,
        ge=0,
        description="INGEST_MAX_WAITING ingest requests awaiting the broker's acknowledgement, beyond which "
        "ingest answers 503 at once (overloaded); 0 = no bound.",
    )
    ingest_ack_timeout: float = Field(
        5.0, gt=0, description="INGEST_ACK_TIMEOUT: seconds to wait for the broker before answering 503."
    )

    # -- API keys --------------------------------------------------------------------
    auth_enabled: bool = Field(
        True, description="AUTH_ENABLED: require an API key on the API; false only for local development."
    )
    api_keys: SecretStr | None = Field(
        None,
        description='API_KEYS: JSON {"<sha256 of key>": {"organization": "acme", "roles": ["ingest", "query"]}}.',
    )
    api_keys_file: str | None = Field(None, description="API_KEYS_FILE: a file holding the API_KEYS JSON.")

    # -- rate limits (per API key, or per client address when auth is off) -----------
    rate_limits_enabled: bool = Field(True, description="RATE_LIMITS_ENABLED: token-bucket limits per client.")
    rate_limit_ingest_rps: float = Field(100.0, gt=0, description="RATE_LIMIT_INGEST_RPS: single-event POSTs/s.")
    rate_limit_batch_rps: float = Field(10.0, gt=0, description="RATE_LIMIT_BATCH_RPS: batch POSTs/s.")
    rate_limit_events_per_second: float = Field(
        20_000.0, gt=0, description="RATE_LIMIT_EVENTS_PER_SECOND ingested, single and batch together."
    )
    rate_limit_query_rps: float = Field(50.0, gt=0, description="RATE_LIMIT_QUERY_RPS: reads (query, stats, tail)/s.")
    rate_limit_burst_seconds: float = Field(
        2.0, ge=1, description="RATE_LIMIT_BURST_SECONDS: a bucket holds this many seconds of its rate."
    )

    # -- backpressure -----------------------------------------------------------------
    backpressure_high_lag: int = Field(
        5000, ge=1, description="BACKPRESSURE_HIGH_LAG: logs.events records of lag at which ingest answers 429."
    )
    backpressure_low_lag: int = Field(
        1000, ge=0, description="BACKPRESSURE_LOW_LAG: ingest is accepted again once the lag is down to this."
    )
    watch_interval: float = Field(
        0.5, gt=0, description="WATCH_INTERVAL seconds between checks of broker reachability and lag."
    )

    # -- response cache (Redis) ---------------------------------------------------------
    cache_query_ttl: float = Field(5.0, ge=0, description="CACHE_QUERY_TTL seconds for query answers; 0 = off.")
    cache_stats_ttl: float = Field(1.0, ge=0, description="CACHE_STATS_TTL seconds for stats answers; 0 = off.")
    cache_stale_max: float = Field(
        3600.0,
        ge=0,
        description="CACHE_STALE_MAX seconds an answer is kept after it was made: past its TTL it is no longer "
        "fresh, but while PostgreSQL is unavailable it is served marked stale (Age, Warning 110); 0 = no stale "
        "answers.",
    )

    # -- retention -------------------------------------------------------------------
    retention_days: int = Field(
        7,
        ge=1,
        description="RETENTION_DAYS: daily partitions and dead letters older than this are dropped; an event "
        "dated further back is refused at ingest (rule too_old).",
    )
    ingest_max_future: float = Field(
        600.0,
        gt=0,
        description="INGEST_MAX_FUTURE seconds an event's timestamp may be ahead of its receipt (rule range).",
    )
    elastic_version: str = Field(
        "8.11.0",
        pattern=r"^\d+\.\d+\.\d+$",
        description="ELASTIC_VERSION the Elasticsearch routes claim: at least your Beats' version for Beats older "
        "than 8.11 (they refuse an older Elasticsearch).",
    )
    syslog_enabled: bool | None = Field(
        None,
        description="SYSLOG_ENABLED: the syslog listeners; unset, on with AUTH_ENABLED=false and off with auth on "
        "(a syslog sender presents no key: with auth on, set it true and SYSLOG_ORGANIZATION).",
    )
    syslog_bind: str = Field("127.0.0.1", description="SYSLOG_BIND: the address the syslog listeners bind.")
    syslog_tcp_port: int = Field(
        1514, ge=1, le=65535, description="SYSLOG_TCP_PORT (octet-counted or newline framing)."
    )
    syslog_udp_port: int = Field(1514, ge=1, le=65535, description="SYSLOG_UDP_PORT (one message per datagram).")
    syslog_organization: str | None = Field(
        None, description="SYSLOG_ORGANIZATION every syslog event is stamped with (tenancy for a keyless protocol)."
    )
    syslog_max_message_bytes: int = Field(
        65536, ge=480, description="SYSLOG_MAX_MESSAGE_BYTES: a longer TCP frame is dead-lettered as too_large."
    )
    extract_fields: bool = Field(
        True,
        description="EXTRACT_FIELDS: the fields of a JSON or logfmt message are kept in metadata.fields, "
        "for field.KEY= filters.",
    )
    partition_days_ahead: int = Field(3, ge=1, description="PARTITION_DAYS_AHEAD created in advance.")
    partition_interval: float = Field(
        3600.0, gt=0, description="PARTITION_INTERVAL seconds between retention passes (partitions, dead letters)."
    )
    volume_fold_interval: float = Field(
        5.0,
        gt=0,
        description="VOLUME_FOLD_INTERVAL seconds between folds of the histogram's counter deltas into log_volume "
        "(answers are exact either way; longer leaves more deltas for each histogram to add up).",
    )

    # -- live tail ---------------------------------------------------------------------
    tail_queue_size: int = Field(
        1000, ge=1, description="TAIL_QUEUE_SIZE events a tail client may fall behind before it is dropped."
    )

    # -- stats -----------------------------------------------------------------------
    stats_top_sources: int = Field(20, ge=1, description="STATS_TOP_SOURCES shown by stats.")

    # -- alerts on log queries -------------------------------------------------------------
    log_rules_file: str | None = Field(
        None,
        description="LOG_RULES_FILE: a YAML file of rules on log queries (name, the query's filters and q, window); "
        "each rule's matches over its window are exported as logpipe_log_rule_matches{rule} by the worker that "
        "owns the count table. A file that cannot be read or is wrong stops the worker at start. None: no rules.",
    )
    log_rules_interval: float = Field(
        30.0, gt=0, description="LOG_RULES_INTERVAL seconds between two evaluations of the log rules."
    )

    # -- tracing -------------------------------------------------------------------------
    tracing: bool = Field(False, description="TRACING: OpenTelemetry spans for ingest → produce → persist.")
    tracing_exporter: str = Field(
        "otlp", description="TRACING_EXPORTER: otlp (OTEL_EXPORTER_OTLP_* configure it), console, or file:PATH."
    )

    # -- logging ---------------------------------------------------------------------
    log_level: str = Field("info", description="LOG_LEVEL of the worker.")
    log_format: Literal["json", "text"] = Field(
        "json", description="LOG_FORMAT: json (one object per line) or text (for people; make run)."
    )

    @model_validator(mode="after")
    def _low_under_high(self) -> Settings:
        if self.backpressure_low_lag >= self.backpressure_high_lag:
            raise ValueError("BACKPRESSURE_LOW_LAG must be below BACKPRESSURE_HIGH_LAG")
        return self

    @property
    def broker_bootstrap(self) -> str:
        """The broker URL as aiokafka wants it: `host:port,host:port`."""
        url = self.kafka_broker_url
        for scheme in ("kafka://", "aiokafka://"):
            url = url.removeprefix(scheme)
        return url.replace(";", ",")

    @property
    def faust_broker(self) -> str:
        """The broker URL as Faust wants it: `kafka://host:port;host:port`."""
        return "kafka://" + self.broker_bootstrap.replace(",", ";")


@lru_cache(maxsize=1)
def event_rules(settings: Settings) -> EventRules:
    """The rules every way in applies to an event beyond the model's, from ``settings``."""
    return EventRules(
        max_future=timedelta(seconds=settings.ingest_max_future),
        max_age=timedelta(days=settings.retention_days),
        extract_fields=settings.extract_fields,
    )


def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
