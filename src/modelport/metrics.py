"""Prometheus metrics on an explicit registry (so tests can build many servers).

Names follow Triton's split with a ``modelport_`` prefix and Prometheus' units: request
outcomes by reason, inference (rows) against execution (runtime calls) counts, request,
queue and compute duration histograms, batch sizes, and at scrape time each model's state,
queue depth, in-flight requests and load time, plus the process' memory and CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelport.errors import ErrorCode

LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    10,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
REASONS = {
    ErrorCode.INVALID_ARGUMENT: "invalid",
    ErrorCode.PAYLOAD_TOO_LARGE: "too_large",
    ErrorCode.UNSUPPORTED_MEDIA: "invalid",
    ErrorCode.NOT_FOUND: "not_found",
    ErrorCode.UNAVAILABLE: "unavailable",
    ErrorCode.DEADLINE_EXCEEDED: "timeout",
    ErrorCode.PERMISSION_DENIED: "forbidden",
    ErrorCode.FAILED_PRECONDITION: "invalid",
    ErrorCode.UNIMPLEMENTED: "unimplemented",
    ErrorCode.INTERNAL: "internal",
}


@dataclass(frozen=True)
class ModelGauges:
    """One model version's state at scrape time."""

    model: str
    version: str
    state: str
    queue_depth: int = 0
    inflight: int = 0
    load_seconds: float = 0.0


class ModelMetrics:
    """The label children of one model version, looked up once, used on every request."""

    def __init__(self, metrics: Metrics, model: str, version: str) -> None:
        labels = (model, version)
        self.success = metrics.requests.labels(*labels, "success", "")
        self.inferences = metrics.inferences.labels(*labels)
        self.executions = metrics.executions.labels(*labels)
        self.request_seconds = metrics.request_duration.labels(*labels)
        self.queue_seconds = metrics.queue_duration.labels(*labels)
        self.compute_seconds = metrics.compute_duration.labels(*labels)
        self.batch_size = metrics.batch_size.labels(*labels)
        self._metrics, self._labels = metrics, labels

    def failure(self, code: ErrorCode) -> None:
        self._metrics.failure(code, *self._labels)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["model", "version"]
        self.requests = Counter(
            "modelport_inference_requests",
            "Inference requests by outcome",
            [*labels, "status", "reason"],
            registry=self.registry,
        )
        self.inferences = Counter(
            "modelport_inference_count",
            "Inferences performed (batch rows)",
            labels,
            registry=self.registry,
        )
        self.executions = Counter(
            "modelport_inference_exec_count",
            "Model executions (runtime calls; a batch is one)",
            labels,
            registry=self.registry,
        )
        self.request_duration = self._histogram("request", "Request time in the data plane")
        self.queue_duration = self._histogram("queue", "Time waiting for the model")
        self.compute_duration = self._histogram("compute", "Time in the runtime")
        self.batch_size = Histogram(
            "modelport_batch_size",
            "Rows per model execution",
            labels,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry, namespace="modelport")

    def _histogram(self, name: str, doc: str) -> Histogram:
        return Histogram(
            f"modelport_inference_{name}_duration_seconds",
            doc,
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def model(self, model: str, version: str) -> ModelMetrics:
        return ModelMetrics(self, model, version)

    def failure(self, code: ErrorCode, model: str = "", version: str = "") -> None:
        """A failed request; ``model`` stays empty when no model was resolved (bounded labels)."""
        self.requests.labels(model, version, "failure", REASONS.get(code, "internal")).inc()

    def watch(self, source: Callable[[], Iterable[ModelGauges]]) -> None:
        """Report ``source()``'s model states at every scrape."""
        self.registry.register(_StateCollector(source))


class _StateCollector(Collector):
    def __init__(self, source: Callable[[], Iterable[ModelGauges]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        labels = ["model", "version"]
        state = GaugeMetricFamily(
            "modelport_model_state", "1 for the model's current state", labels=[*labels, "state"]
        )
        depth = GaugeMetricFamily(
            "modelport_queue_depth", "Requests waiting to be batched", labels=labels
        )
        inflight = GaugeMetricFamily(
            "modelport_inflight_requests", "Requests in the model", labels=labels
        )
        load = GaugeMetricFamily(
            "modelport_model_load_seconds", "Time the load took", labels=labels
        )
        for g in self._source():
            state.add_metric([g.model, g.version, g.state], 1)
            depth.add_metric([g.model, g.version], g.queue_depth)
            inflight.add_metric([g.model, g.version], g.inflight)
            load.add_metric([g.model, g.version], g.load_seconds)
        yield from (state, depth, inflight, load)
