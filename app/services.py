"""What a worker talks to, made once from settings and owned by its app.

The app builds one :class:`Services` when it is created; agents reach it
through the app they are registered on, views through ``self.app``. Nothing
here opens a connection: each part is a ``mode`` Service (or is started by
one) and opens when the worker starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.domain.admission import EventRules
from app.domain.backpressure import LagGate
from app.domain.rules import LogRule
from app.domain.topic_layout import EVENTS
from app.kafka.fetch import fetch_max_wait_ms
from app.kafka.intake import Intake
from app.kafka.publisher import EnvelopePublisher
from app.kafka.tail_hub import TailHub
from app.kafka.watch import PipelineWatch
from app.settings import Settings, event_rules
from app.storage import partitions
from app.storage.cache import Cache
from app.storage.database import Database
from app.storage.limiter import RateLimiter

if TYPE_CHECKING:
    from app.agents.validate import RawValidator
    from app.tables.counts import LiveCounts


@dataclass(eq=False)
class Services:
    """The worker's services; ``live_counts`` and ``validator`` are set when their components register,
    ``log_rules`` when the worker starts (read from ``LOG_RULES_FILE``)."""

    settings: Settings
    database: Database
    cache: Cache
    publisher: EnvelopePublisher
    rate_limiter: RateLimiter | None
    watch: PipelineWatch
    tail_hub: TailHub
    intake: Intake
    event_rules: EventRules
    live_counts: LiveCounts | None = None
    validator: RawValidator | None = None
    log_rules: tuple[LogRule, ...] = ()

    @property
    def counts(self) -> LiveCounts:
        """The count table and its readers (registered with every app)."""
        if self.live_counts is None:
            raise RuntimeError("the count table is not registered with this app")
        return self.live_counts


def build_services(settings: Settings, send: Any) -> Services:
    """The services of one worker; ``send`` produces one envelope (the app's producer, once it runs)."""
    database = Database(
        settings.database_url.get_secret_value(),
        pool_size=settings.pg_pool_size,
        max_delay=settings.pg_retry_max_delay,
        # Today's partition exists before the first row is written (else rows wait in logs_default).
        before_ready=lambda pool: partitions.maintain(
            pool, days_ahead=settings.partition_days_ahead, retention_days=settings.retention_days
        ),
        breaker_failures=settings.pg_breaker_failures,
        breaker_reset=settings.pg_breaker_reset,
        read_timeout=settings.pg_read_timeout,
    )
    cache = Cache(settings.redis_url)
    publisher = EnvelopePublisher(
        lambda envelope, headers: send(EVENTS, None, envelope, None, None, headers),
        max_bytes=settings.envelope_max_bytes,
        linger=settings.ingest_linger,
        busy_linger=settings.ingest_busy_linger,
        ack_timeout=settings.ingest_ack_timeout,
        max_waiting=settings.ingest_max_waiting,
    )
    wait_ms = fetch_max_wait_ms(settings.broker_fetch_max_wait)
    gate = LagGate(settings.backpressure_high_lag, settings.backpressure_low_lag)
    limiter = RateLimiter(cache, settings) if settings.rate_limits_enabled else None
    return Services(
        settings=settings,
        database=database,
        cache=cache,
        publisher=publisher,
        rate_limiter=limiter,
        watch=PipelineWatch(settings.broker_bootstrap, settings.app_id, publisher, gate, settings.watch_interval),
        tail_hub=TailHub(settings.broker_bootstrap, EVENTS, settings.tail_queue_size, wait_ms),
        intake=Intake(publisher, gate, limiter),
        event_rules=event_rules(settings),
    )
