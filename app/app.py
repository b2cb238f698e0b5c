"""The Faust app: built from settings, owning the worker's services, registering its components.

Importing this module builds the app and registers the components listed
in :data:`COMPONENTS` (agents, tables, views), and opens nothing:
connections open when the worker starts (``faust -A app.app worker`` or
``python -m app worker``). Components are handed the app; none imports it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import UTC, datetime
from typing import Any, Final, cast

import faust
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types.transports import TransportT
from prometheus_client import REGISTRY

from app.agents.log_rules import read_rules
from app.domain.backoff import retrying
from app.domain.topic_layout import COUNTS, TopicSpec, dlq_topic_max_bytes, topic_specs
from app.kafka.drain import OrderedDrain
from app.kafka.fetch import FetchWait, fetch_max_wait_ms, waiting_thread_class
from app.kafka.offsets import forgetting_refused_commits
from app.kafka.topic_admin import create_topics, mend_partition_counts
from app.ops import runtime, tracing
from app.ops.logs import logging_config
from app.services import Services, build_services
from app.settings import Settings, get_settings
from app.web.access import authenticate, load_keyring
from app.web.observe import http_metrics
from app.web.problems import json_errors
from app.web.rate_limits import rate_limits
from app.web.routes import role_for

log = logging.getLogger(__name__)

#: The modules whose ``register(app)`` declares the worker's agents, tables and views, in this order.
COMPONENTS: Final = (
    "app.tables.counts",
    "app.agents.validate",
    "app.agents.persist",
    "app.agents.count",
    "app.agents.letter_index",
    "app.agents.retention",
    "app.agents.volume_fold",
    "app.agents.syslog_listener",
    "app.agents.log_rules",
    "app.web.routes",
)


class LogpipeApp(faust.App):
    """A Faust app that owns its services (:attr:`services`), creates its topics before anything consumes
    them, and whose consumers keep the offsets they commit honest (see :mod:`app.kafka`)."""

    settings: Settings
    services: Services

    def __init__(self, settings: Settings) -> None:
        super().__init__(
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
        self.settings = settings
        # Faust's own sensor metrics (faust_*), served with ours on /metrics.
        self.monitor = PrometheusMonitor(metrics=FaustMetrics.create(REGISTRY, "faust"))
        self.services = build_services(settings, lambda *record: self.producer.send(*record))
        for service in (self.services.database, self.services.cache, self.services.watch):
            self.add_dependency(service)
        self.services.watch.on_topics_lost = self._topics_lost

    async def on_first_start(self) -> None:
        await super().on_first_start()
        settings = self.settings
        tracing.setup(settings.tracing, settings.tracing_exporter, service_name=settings.app_id)
        keyring = load_keyring(settings)
        if keyring is None:
            log.warning(
                "AUTH_ENABLED=false: the API is open to anyone who reaches port %d; for local development only",
                settings.web_port,
            )
        if not settings.rate_limits_enabled:
            log.warning("RATE_LIMITS_ENABLED=false: no client is limited")
        # A rules file that cannot be used stops the worker here, naming the line and the reason.
        self.services.log_rules = read_rules(settings.log_rules_file)
        if self.services.log_rules:
            log.info("%d log rules from %s", len(self.services.log_rules), settings.log_rules_file)
        # The aiohttp driver's Application: metrics outermost, so they see the JSON error statuses.
        cast(Any, self.web).web_app.middlewares.extend(
            [http_metrics, json_errors, authenticate(keyring, role_for), rate_limits(self.services.intake)]
        )
        if settings.topic_declare:
            await self._declare_topics()

    async def on_started(self) -> None:
        await super().on_started()
        runtime.apply()

    async def on_stop(self) -> None:
        # Before the web server stops: it waits for open responses, and a live tail never ends by itself.
        self.services.tail_hub.close()
        await super().on_stop()

    def _new_transport(self) -> TransportT:
        wait_ms = fetch_max_wait_ms(self.settings.broker_fetch_max_wait)
        waiting = type("FetchWaitSet", (FetchWait,), {"thread_class": waiting_thread_class(wait_ms)})
        return forgetting_refused_commits(super()._new_transport(), OrderedDrain, waiting)

    async def _topics_lost(self) -> None:
        """The broker came back empty (a dev broker keeps topics in memory): the topics again, as at start,
        and the count table, whose changelog went with them, rebuilt from the rows."""
        if not self.settings.topic_declare:
            log.error("the broker no longer holds logpipe's topics, and TOPIC_DECLARE=false: create them")
            return
        log.warning("the broker came back empty: creating the topics again and rebuilding the live counts")
        settings, table = self.settings, self.services.counts.table
        changelog = TopicSpec(
            table.changelog_topic.get_topic_name(), table.partitions or 1, {"cleanup.policy": "compact"}
        )
        await table.changelog_topic.declare()
        await self._declare_topics()
        specs = [*topic_specs(settings.topic_partitions, settings.raw_max_bytes), changelog]
        if await mend_partition_counts(settings.broker_bootstrap, specs, {COUNTS, changelog.name}):
            await cast(Any, self.producer)._ensure_producer().client.force_metadata_update()
        self.services.counts.ask_for_rebuild(since=datetime.now(UTC))

    async def _declare_topics(self) -> None:
        settings = self.settings
        specs = topic_specs(settings.topic_partitions, settings.raw_max_bytes)

        def on_retry(exc: Exception, delay: float) -> None:
            log.warning("creating topics failed (%s); retrying in %.1fs", exc, delay)

        await retrying(
            lambda: create_topics(settings.broker_bootstrap, specs, settings.topic_replication),
            retry_on=Exception,
            max_delay=settings.broker_retry_max_delay,
            on_retry=on_retry,
            sleep=asyncio.sleep,
            first=1.0,
            attempts=settings.topic_declare_attempts,
        )


def create_app(settings: Settings | None = None) -> LogpipeApp:
    """An app built from ``settings`` (the environment's by default), with every component registered."""
    app = LogpipeApp(settings or get_settings())
    for name in COMPONENTS:
        importlib.import_module(name).register(app)
    return app


app = create_app()
