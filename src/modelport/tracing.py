"""OpenTelemetry traces, when the standard ``OTEL_*`` environment asks for them.

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``);
then the ``modelport[tracing]`` extra (the SDK and the OTLP/HTTP exporter) must be installed.
The SDK reads the rest of ``OTEL_*`` itself (service name, resource, sampler, headers).

Each inference is a SERVER span named after its route, child of the W3C ``traceparent``
the client sent (HTTP header or gRPC metadata), with the model and version as attributes;
its children are ``queue`` and ``compute``, timed from what the data plane measured; a
batch is a ``batch`` span linked to every request in it. When tracing is off nothing here
runs: requests carry ``trace=None`` and every call site checks that first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

_ENABLING = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def wanted(env: Mapping[str, str]) -> bool:
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(exporter) or any(env.get(name) for name in _ENABLING)


class Tracing:
    """Starts request spans; built from the environment, or around any tracer (tests)."""

    def __init__(self, tracer: Any, provider: Any = None) -> None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._tracer = tracer
        self._provider = provider
        self._propagator = TraceContextTextMapPropagator()

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Tracing | None:
        if not wanted(env):
            return None
        try:
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise RuntimeError(
                "OTEL_* asks for traces but OpenTelemetry is not installed: "
                "pip install 'modelport[tracing]'"
            ) from exc
        provider = TracerProvider()
        for exporter in _exporters(env):
            provider.add_span_processor(BatchSpanProcessor(exporter))
        logger.info("tracing: OpenTelemetry spans to %s", env.get("OTEL_TRACES_EXPORTER", "otlp"))
        return cls(provider.get_tracer("modelport"), provider)

    def request(
        self, name: str, carrier: Mapping[str, str], model: str, protocol: str
    ) -> RequestTrace:
        """A SERVER span for one request, child of the caller's ``traceparent``."""
        from opentelemetry.trace import SpanKind

        parent = self._propagator.extract(carrier=dict(carrier))
        attributes = {"modelport.model": model, "modelport.protocol": protocol}
        if protocol == "http":
            attributes["http.route"] = name
        span = self._tracer.start_span(name, parent, SpanKind.SERVER, attributes)
        return RequestTrace(self._tracer, span)

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()


class RequestTrace:
    """One request's span, and the children the data plane and the batcher record."""

    __slots__ = ("_tracer", "span")

    def __init__(self, tracer: Any, span: Any) -> None:
        self._tracer = tracer
        self.span = span

    def ran(self, version: str, queue_ns: int, compute_ns: int) -> None:
        """``queue`` then ``compute``, ending now (the data plane measured both)."""
        from opentelemetry import trace

        now = time.time_ns()
        parent = trace.set_span_in_context(self.span)
        self.span.set_attribute("modelport.version", version)
        started = now - compute_ns - queue_ns
        self._tracer.start_span("queue", parent, start_time=started).end(end_time=now - compute_ns)
        self._tracer.start_span("compute", parent, start_time=now - compute_ns).end(end_time=now)

    def batch(self, members: Sequence[Any], rows: int, compute_ns: int) -> None:
        """A ``batch`` span, linked to every request in it (those that are traced)."""
        from opentelemetry.trace import Link

        now = time.time_ns()
        links = [Link(m.span.get_span_context()) for m in members]  # RequestTraces
        attributes = {"modelport.batch.requests": len(members), "modelport.batch.rows": rows}
        span = self._tracer.start_span(
            "batch", links=links, attributes=attributes, start_time=now - compute_ns
        )
        span.end(end_time=now)

    def end(self, status: int | str, failed: bool) -> None:
        from opentelemetry.trace import Status, StatusCode

        key = "rpc.grpc.status_code" if isinstance(status, str) else "http.response.status_code"
        self.span.set_attribute(key, status)
        if failed:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end()


def _exporters(env: Mapping[str, str]) -> list[Any]:
    names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if n.strip()]
    found: list[Any] = []
    for name in names:
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            found.append(ConsoleSpanExporter())
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            found.append(OTLPSpanExporter())  # reads OTEL_EXPORTER_OTLP_* itself
        else:
            raise RuntimeError(f"OTEL_TRACES_EXPORTER={name!r}: modelport knows otlp and console")
    return found
