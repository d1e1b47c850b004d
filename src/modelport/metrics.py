"""Prometheus metrics on an explicit registry (so tests can build many servers).

Names follow Triton's split with a ``modelport_`` prefix and Prometheus' units: request
outcomes by reason, inference (rows) against execution (runtime calls) counts, request,
queue and compute duration histograms, batch sizes, each model's state, queue depth,
in-flight requests and load time, plus the process' memory and CPU.

Nothing here runs per request. The data plane already keeps Triton's statistics for every
model version (``types.ModelStats``: counts, times and histogram buckets, updated on the
event loop); the collector turns them into metric families when ``/metrics`` is scraped.
Only failures are counted here, by model and reason. Series of a version end when it is
unloaded, and restart from zero when it is reloaded (Prometheus' ``rate`` handles resets).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from modelport.errors import ErrorCode
from modelport.types import BATCH_BOUNDS, LATENCY_BOUNDS_NS, ModelStats


class BudgetCounts(Protocol):
    parked: int
    restored: int
    restore_seconds: float


class Budget(Protocol):
    """What ``/metrics`` reads of a memory budget (``residency.Budget``)."""

    limit: int

    @property
    def used(self) -> int: ...

    @property
    def counts(self) -> BudgetCounts: ...


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
    ErrorCode.UNAUTHENTICATED: "unauthenticated",
    ErrorCode.RESOURCE_EXHAUSTED: "rate_limited",
    ErrorCode.ALREADY_EXISTS: "invalid",
}
LATENCY_BOUNDS_S = tuple(ns / 1e9 for ns in LATENCY_BOUNDS_NS)


@dataclass(frozen=True)
class ModelGauges:
    """One model version at scrape time: its state, and its statistics when loaded."""

    model: str
    version: str
    state: str
    queue_depth: int = 0
    inflight: int = 0
    load_seconds: float = 0.0
    stats: ModelStats | None = None
    memory_bytes: int = 0
    resident: bool = True
    logged: tuple[int, int] | None = None
    """Its request log's records written and dropped, when it has one."""
    live: Mapping[str, float] | None = None
    """Accuracy or MSE over the newest labelled rows, and how many labels came back."""
    drift: Mapping[str, Mapping[str, float]] | None = None
    """Per tensor: its drift figures (``drift.Figures.summary``), when drift is watched."""
    tuned: tuple[int, int, int] | None = None
    """A latency objective's choices: delay (µs), batch cap (rows), last p99 (ns)."""


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.failures: Counter[tuple[str, str]] = Counter()
        self._counting = threading.Lock()  # gRPC threads count failures too
        """Failed inference requests by (model, reason); the model is empty when none was
        resolved, so the label set stays bounded."""
        ProcessCollector(registry=self.registry, namespace="modelport")

    def failure(self, code: ErrorCode, model: str = "") -> None:
        with self._counting:
            self.failures[model, REASONS.get(code, "internal")] += 1

    def watch(self, source: Callable[[], Iterable[ModelGauges]]) -> None:
        """Report ``source()``'s model versions at every scrape."""
        self.registry.register(_ModelCollector(source, self.failures))

    def watch_keys(self, outcomes: Counter[tuple[str, str]]) -> None:
        """Report requests by API key name and outcome (admitted, unauthenticated,
        forbidden, rate_limited) at every scrape; key names only, never keys."""
        self.registry.register(_KeyCollector(outcomes))

    def watch_budget(self, budget: Budget) -> None:
        """Report the memory budget, its use, and parks and restores at every scrape."""
        self.registry.register(_BudgetCollector(budget))


class _BudgetCollector(Collector):
    def __init__(self, budget: Budget) -> None:
        self._budget = budget

    def collect(self) -> Iterator[Metric]:
        budget, counts = self._budget, self._budget.counts
        gauge, counter = GaugeMetricFamily, CounterMetricFamily
        for family, name, text, value in (
            (gauge, "memory_budget_bytes", "--model-memory-budget", budget.limit),
            (gauge, "memory_budget_used_bytes", "Memory of the resident models", budget.used),
            (counter, "model_parks", "Idle models unloaded to make room", counts.parked),
            (counter, "model_restores", "Parked models loaded again", counts.restored),
            (counter, "model_restore_seconds", "Time restoring", counts.restore_seconds),
        ):
            yield family(f"modelport_{name}", text, value=value)


class _KeyCollector(Collector):
    def __init__(self, outcomes: Counter[tuple[str, str]]) -> None:
        self._outcomes = outcomes

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "modelport_api_key_requests",
            "Requests the access policy decided, by API key name (empty: none) and outcome",
            labels=["key", "outcome"],
        )
        for (key, outcome), count in sorted(self._outcomes.items()):
            family.add_metric([key, outcome], count)
        yield family


class _ModelCollector(Collector):
    def __init__(
        self, source: Callable[[], Iterable[ModelGauges]], failures: Counter[tuple[str, str]]
    ) -> None:
        self._source = source
        self._failures = failures

    def collect(self) -> Iterator[Metric]:
        found = list(self._source())
        yield self._requests([g for g in found if g.stats is not None])
        yield from _statistics(found)
        yield from _gauges(found)

    def _requests(self, loaded: list[ModelGauges]) -> Metric:
        family = CounterMetricFamily(
            "modelport_inference_requests",
            "Inference requests by outcome",
            labels=["model", "version", "status", "reason"],
        )
        for g in loaded:
            assert g.stats is not None
            family.add_metric([g.model, g.version, "success", ""], g.stats.success.count)
        for (model, reason), count in sorted(self._failures.items()):
            family.add_metric([model, "", "failure", reason], count)
        return family


def _statistics(found: Sequence[ModelGauges]) -> Iterator[Metric]:
    labels = ["model", "version"]
    inferences = CounterMetricFamily(
        "modelport_inference_count", "Inferences performed (batch rows)", labels=labels
    )
    executions = CounterMetricFamily(
        "modelport_inference_exec_count",
        "Model executions (runtime calls; a batch is one)",
        labels=labels,
    )
    durations = (
        HistogramMetricFamily(
            "modelport_inference_request_duration_seconds",
            "Request time in the data plane",
            labels=labels,
        ),
        HistogramMetricFamily(
            "modelport_inference_queue_duration_seconds",
            "Time waiting for the model",
            labels=labels,
        ),
        HistogramMetricFamily(
            "modelport_inference_compute_duration_seconds", "Time in the runtime", labels=labels
        ),
    )
    batch = HistogramMetricFamily("modelport_batch_size", "Rows per model execution", labels=labels)
    for g in found:
        s = g.stats
        if s is None:
            continue
        key = [g.model, g.version]
        inferences.add_metric(key, s.inference_count)
        executions.add_metric(key, s.execution_count)
        for family, duration in zip(durations, (s.success, s.queue, s.compute_infer), strict=True):
            family.add_metric(key, _buckets(LATENCY_BOUNDS_S, duration.buckets), duration.ns / 1e9)
        batch.add_metric(key, _buckets(BATCH_BOUNDS, s.batch_sizes), s.batch_rows)
    yield from (inferences, executions, *durations, batch)


def _buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Prometheus' cumulative ``le`` buckets from per-slot counts (the last slot is +Inf)."""
    edges = [*(repr(float(bound)) for bound in bounds), "+Inf"]  # as prometheus_client writes
    return list(zip(edges, accumulate(counts), strict=True))


def _gauges(found: Sequence[ModelGauges]) -> Iterator[Metric]:
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
    load = GaugeMetricFamily("modelport_model_load_seconds", "Time the load took", labels=labels)
    memory = GaugeMetricFamily(
        "modelport_model_memory_bytes",
        "Measured memory of the model (under a memory budget; 0 without one)",
        labels=labels,
    )
    resident = GaugeMetricFamily(
        "modelport_model_resident", "1 while the model's runtime is loaded", labels=labels
    )
    for g in found:
        key = [g.model, g.version]
        state.add_metric([*key, g.state], 1)
        depth.add_metric(key, g.queue_depth)
        inflight.add_metric(key, g.inflight)
        load.add_metric(key, g.load_seconds)
        memory.add_metric(key, g.memory_bytes)
        resident.add_metric(key, int(g.resident))
    yield from (state, depth, inflight, load, memory, resident)
    yield from _request_logs(found)


def _request_logs(found: Sequence[ModelGauges]) -> Iterator[Metric]:
    labels = ["model", "version"]
    kept = CounterMetricFamily(
        "modelport_request_log_records", "Requests sampled into the request log", labels=labels
    )
    dropped = CounterMetricFamily(
        "modelport_request_log_dropped",
        "Sampled requests dropped: the log's queue was full, or its sink failed",
        labels=labels,
    )
    live = {
        name: GaugeMetricFamily(f"modelport_live_{name}", text, labels=labels)
        for name, text in (
            ("accuracy", "Accuracy over the newest labelled predictions (feedback)"),
            ("mse", "Mean squared error over the newest labelled predictions (feedback)"),
            ("roc_auc", "ROC AUC over the newest labelled predictions (two classes, feedback)"),
        )
    }
    labelled = CounterMetricFamily(
        "modelport_live_labels", "Labelled rows joined to their predictions", labels=labels
    )
    for g in found:
        if g.logged is not None:
            kept.add_metric([g.model, g.version], g.logged[0])
            dropped.add_metric([g.model, g.version], g.logged[1])
        for name, value in (g.live or {}).items():
            target = labelled if name == "labels" else live[name]
            target.add_metric([g.model, g.version], value)
    yield from (kept, dropped, *live.values(), labelled)
    yield from _drift(found)
    yield from _tuned(found)


def _tuned(found: Sequence[ModelGauges]) -> Iterator[Metric]:
    labels = ["model", "version"]
    delay = GaugeMetricFamily(
        "modelport_batch_delay_microseconds",
        "Queue delay the batcher chose for the latency objective (latency_slo_ms)",
        labels=labels,
    )
    cap = GaugeMetricFamily(
        "modelport_batch_max_rows", "Batch size cap chosen for the latency objective", labels=labels
    )
    p99 = GaugeMetricFamily(
        "modelport_batch_latency_p99_seconds",
        "p99 latency (queue + compute) of the batcher's last tuning period",
        labels=labels,
    )
    for g in found:
        if g.tuned is not None:
            delay.add_metric([g.model, g.version], g.tuned[0])
            cap.add_metric([g.model, g.version], g.tuned[1])
            p99.add_metric([g.model, g.version], g.tuned[2] / 1e9)
    yield from (delay, cap, p99)


_DRIFT = (
    ("psi", "Population stability index of the tensor's most shifted feature vs the reference"),
    ("ks", "Largest Kolmogorov-Smirnov statistic of the tensor's features vs the reference"),
    ("out_of_range", "Share of the tensor's recent values outside the reference's range"),
    ("rows", "Rows in the drift window"),
)


def _drift(found: Sequence[ModelGauges]) -> Iterator[Metric]:
    labels = ["model", "version", "tensor"]
    families = {
        name: GaugeMetricFamily(f"modelport_drift_{name}", text, labels=labels)
        for name, text in _DRIFT
    }
    for g in found:
        for tensor, figures in (g.drift or {}).items():
            for name, family in families.items():
                if name in figures:
                    family.add_metric([g.model, g.version, tensor], figures[name])
    yield from families.values()
