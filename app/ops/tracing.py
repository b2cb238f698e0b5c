"""OpenTelemetry tracing through the pipeline: HTTP ingest → produce → persist.

Off by default (``TRACING=false``) and then free: no span is made, nothing
is injected, no SDK is loaded. When on, an ingest request starts or
continues the trace of its W3C ``traceparent`` header; the produce span's
context travels in the ``logs.events`` record headers (one ``traceparent``
header per traced request sharing the envelope) to the persist agent, which
records a ``persist`` span in each of those traces.

Whether tracing is on or off, an event posted without ``trace_id`` gets
the trace id of the request's ``traceparent``, so logs and traces join up.

Exporters (``TRACING_EXPORTER``): ``otlp`` (OTLP over HTTP; the standard
``OTEL_EXPORTER_OTLP_*`` variables configure it), ``console``, or
``file:PATH`` (one JSON span per line).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Final

_TRACEPARENT: Final = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
MAX_LINKED_TRACES: Final = 100
_state: dict[str, Any] = {"tracer": None}


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header, or ``None`` when it is not a valid one."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if match is None or set(match.group(1)) == {"0"}:
        return None
    return match.group(1)


def setup(enabled: bool, exporter: str, service_name: str) -> None:
    """Install the SDK's tracer provider with the chosen exporter; does nothing when off."""
    if not enabled:
        _state["tracer"] = None
        return
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    span_exporter: SpanExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    elif exporter.startswith("file:"):
        out: IO[str] = open(exporter.removeprefix("file:"), "a", buffering=1)
        span_exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    else:
        span_exporter = ConsoleSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    _state["tracer"] = trace.get_tracer("logpipe")


def enabled() -> bool:
    return _state["tracer"] is not None


@contextlib.contextmanager
def ingest_span(name: str, headers: Mapping[str, str]) -> Iterator[tuple[str | None, str | None]]:
    """Spans for one ingest request: a server span and, inside, a producer span.

    Yields ``(trace_id, traceparent)``: the trace id to stamp on events and
    the producer span's context to put in the record headers; both ``None``
    when tracing is off.
    """
    tracer = _state["tracer"]
    if tracer is None:
        yield None, None
        return
    from opentelemetry import propagate, trace

    parent = propagate.extract(dict(headers))
    with tracer.start_as_current_span(name, context=parent, kind=trace.SpanKind.SERVER) as server:
        with tracer.start_as_current_span("produce logs.events", kind=trace.SpanKind.PRODUCER):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            yield format(server.get_span_context().trace_id, "032x"), carrier.get("traceparent")


@contextlib.contextmanager
def persist_spans(traceparents: Iterable[str]) -> Iterator[None]:
    """A ``persist`` consumer span in each trace whose context came with the batch."""
    tracer = _state["tracer"]
    parents = list(dict.fromkeys(traceparents))[:MAX_LINKED_TRACES]
    if tracer is None or not parents:
        yield
        return
    from opentelemetry import propagate, trace

    spans = [
        tracer.start_span(
            "persist logs.events", context=propagate.extract({"traceparent": tp}), kind=trace.SpanKind.CONSUMER
        )
        for tp in parents
    ]
    try:
        yield
    finally:
        for span in spans:
            span.end()
