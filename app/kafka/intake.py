"""The one way events enter the pipeline from outside, whatever protocol carried them.

Every ingest path (logpipe's JSON, OTLP, Loki, Elasticsearch bulk, syslog,
Python's logging handlers) decodes its request into events with its own
decoder, then asks :class:`Intake` in the same order: may anything come in
now (:meth:`Intake.admit`: backpressure), may this client send this many
(:meth:`Intake.charge`: rate limits), and publish (:meth:`Intake.publish`:
trace context, one envelope per request, the broker's acknowledgement). A
"not now" is an :class:`~app.errors.TryLater` naming why and when to
come back; each protocol turns it into its own retryable answer. So the
rules, the limits and the guarantee (an accepted event is on the broker)
are the same on every path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.domain.backpressure import LagGate
from app.domain.buckets import Decision
from app.errors import Backpressure, RateLimited, TryLater
from app.kafka.publisher import EnvelopePublisher
from app.ops.metrics import EVENTS_ACCEPTED, INGEST_SHED
from app.storage.limiter import Limit, RateLimiter


class Intake:
    """Admission, rate limits and publishing for every ingest protocol (see the module docstring)."""

    def __init__(self, publisher: EnvelopePublisher, gate: LagGate, limiter: RateLimiter | None) -> None:
        self._publisher = publisher
        self._gate = gate
        self._limiter = limiter

    def admit(self, protocol: str = "native") -> None:
        """Raise :class:`Backpressure` while the persist stage lags past the high-water mark."""
        gate = self._gate
        if gate.closed:
            INGEST_SHED.labels(protocol, Backpressure.code).inc()
            retry_after = gate.retry_after()
            raise Backpressure(
                f"the pipeline is {gate.lag:,} records behind (limit {gate.high:,}); "
                f"ingest resumes under {gate.low:,}: retry after {retry_after} s",
                retry_after,
            )

    async def charge(self, identity: str, limit: Limit, events: int) -> Decision | None:
        """Spend ``identity``'s allowance for one request carrying ``events``; raise :class:`RateLimited` when
        it is over. The decision (``None`` with limits off) carries the headers to answer with."""
        if self._limiter is None:
            return None
        decision = await self._limiter.check(limit, identity, events)
        if not decision.allowed:
            what = {"ingest": "single-event posts", "batch": "batch posts", "query": "reads"}[limit]
            headers = decision.headers()
            raise RateLimited(
                f"rate limit: this client sent more {what} (or events) than its allowance of {decision.limit:g}/s; "
                f"retry after {headers['Retry-After']} s",
                int(headers["Retry-After"]),
                headers,
            )
        return decision

    async def publish(
        self,
        events: Sequence[dict[str, Any]],
        *,
        protocol: str = "native",
        trace_id: str | None = None,
        traceparent: str | None = None,
    ) -> None:
        """Hand wire-format events to the broker and return once it acknowledged them all.

        Events without a ``trace_id`` get the request's (set from its trace
        context when absent). Raises :class:`~app.errors.BrokerUnavailable`
        or :class:`~app.errors.Overloaded` when the broker cannot take them.
        """
        if trace_id is not None:
            for event in events:
                if event.get("trace_id") is None:
                    event["trace_id"] = trace_id
        try:
            await self._publisher.publish(events, traceparent=traceparent)
        except TryLater as exc:
            INGEST_SHED.labels(protocol, exc.code).inc()
            raise
        EVENTS_ACCEPTED.labels(protocol).inc(len(events))
