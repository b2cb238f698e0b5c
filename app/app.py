"""The Faust app, built from settings, and the services it starts with it.

Importing this module defines things and opens nothing: connections open
when the worker starts (``faust -A app.app worker`` or ``python -m app worker``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types.transports import TransportT
from prometheus_client import REGISTRY

from app import runtime, tracing
from app.backpressure import LagGate
from app.drain import OrderedDrain
from app.fetch import FetchWait, fetch_max_wait_ms, waiting_thread_class
from app.logs import logging_config
from app.offsets import forgetting_refused_commits
from app.publisher import EnvelopePublisher
from app.settings import get_settings
from app.storage import partitions
from app.storage.cache import Cache
from app.storage.database import Database
from app.tail import TailHub
from app.topics import EVENTS, create_topics, dlq_topic_max_bytes, topic_specs
from app.watch import PipelineWatch
from app.web.auth import authenticate, load_keyring
from app.web.errors import json_errors
from app.web.observe import http_metrics
from app.web.ratelimit import RateLimiter, rate_limits

log = logging.getLogger(__name__)
settings = get_settings()
fetch_wait_ms = fetch_max_wait_ms(settings.broker_fetch_max_wait)


class LogpipeApp(faust.App):
    """A Faust app that creates its topics before anything consumes them, and whose consumers forget the
    offsets of a refused commit (see app.offsets)."""

    async def on_first_start(self) -> None:
        await super().on_first_start()
        tracing.setup(settings.tracing, settings.tracing_exporter, service_name=settings.app_id)
        keyring = load_keyring(settings)
        if keyring is None:
            log.warning(
                "AUTH_ENABLED=false: the API is open to anyone who reaches port %d; for local development only",
                settings.web_port,
            )
        # The aiohttp driver's Application: metrics outermost, so they see the JSON error statuses.
        if not settings.rate_limits_enabled:
            log.warning("RATE_LIMITS_ENABLED=false: no client is limited")
        cast(Any, self.web).web_app.middlewares.extend(
            [http_metrics, json_errors, authenticate(keyring), rate_limits(rate_limiter)]
        )
        if settings.topic_declare:
            await _declare_topics()

    async def on_started(self) -> None:
        await super().on_started()
        runtime.apply()

    def _new_transport(self) -> TransportT:
        waiting = type("FetchWaitSet", (FetchWait,), {"thread_class": waiting_thread_class(fetch_wait_ms)})
        return forgetting_refused_commits(super()._new_transport(), OrderedDrain, waiting)


async def _declare_topics(attempts: int = 15) -> None:
    specs = topic_specs(settings.topic_partitions, settings.raw_max_bytes)
    for attempt in range(1, attempts + 1):
        try:
            await create_topics(settings.broker_bootstrap, specs, settings.topic_replication)
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("creating topics failed (%s); retry %d/%d", exc, attempt, attempts)
            await asyncio.sleep(1.0)


app = LogpipeApp(
    settings.app_id,
    broker=settings.faust_broker,
    store=settings.store,
    datadir=settings.data_dir,
    web_port=settings.web_port,
    web_bind=settings.web_bind or settings.web_host,
    web_host=settings.web_host,
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    topic_allow_declare=settings.topic_declare,
    topic_disable_leader=True,
    processing_guarantee=settings.processing_guarantee,
    broker_session_timeout=settings.broker_session_timeout,
    broker_heartbeat_interval=min(3.0, settings.broker_session_timeout / 3),
    consumer_auto_offset_reset="earliest",
    recovery_consistency_check=settings.table_recovery_check,
    producer_acks=-1,
    producer_max_request_size=dlq_topic_max_bytes(settings.raw_max_bytes),
    producer_linger_ms=1,
    web_application_options={"client_max_size": settings.ingest_max_body_bytes},
    logging_config=logging_config(settings.log_format, settings.log_level),
)

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
rate_limiter = RateLimiter(cache, settings) if settings.rate_limits_enabled else None
# Faust's own sensor metrics (faust_*), served with ours on /metrics.
app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))

publisher = EnvelopePublisher(
    lambda envelope, headers: app.producer.send(EVENTS, None, envelope, None, None, headers),
    max_bytes=settings.envelope_max_bytes,
    linger=settings.ingest_linger,
    ack_timeout=settings.ingest_ack_timeout,
    max_waiting=settings.ingest_max_waiting,
)
tail_hub = TailHub(settings.broker_bootstrap, EVENTS, settings.tail_queue_size, fetch_wait_ms)
watch = PipelineWatch(
    settings.broker_bootstrap,
    settings.app_id,
    publisher,
    LagGate(settings.backpressure_high_lag, settings.backpressure_low_lag),
    settings.watch_interval,
)
app.add_dependency(database)
app.add_dependency(cache)
app.add_dependency(watch)

# Register agents, tables and views (they import `app` from here).
from app import agents, tables  # noqa: E402, F401
from app.web import console, dlq, health, ingest, metrics, openapi, query, stats, tail  # noqa: E402, F401
