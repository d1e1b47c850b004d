"""The scrape-time collector: Prometheus families built from a version's statistics."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modelport.errors import ErrorCode
from modelport.metrics import Metrics, ModelGauges
from modelport.types import ModelStats


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def served(stats: ModelStats) -> Metrics:
    metrics = Metrics()
    metrics.watch(lambda: [ModelGauges("m", "1", "READY", 2, 1, 0.5, stats)])
    return metrics


def test_latency_histogram_is_cumulative_in_seconds() -> None:
    stats = ModelStats()
    for ns in (50_000, 300_000, 20_000_000_000):  # 50 µs, 300 µs, 20 s
        stats.success.add(ns)
    samples = scrape(served(stats))
    name = "modelport_inference_request_duration_seconds"

    def bucket(le: str) -> float:
        return samples[(f"{name}_bucket", (("le", le), ("model", "m"), ("version", "1")))]

    assert bucket("0.0001") == 1
    assert bucket("0.00025") == 1
    assert bucket("0.0005") == 2
    assert bucket("10.0") == 2
    assert bucket("+Inf") == 3
    assert samples[(f"{name}_count", (("model", "m"), ("version", "1")))] == 3
    assert samples[(f"{name}_sum", (("model", "m"), ("version", "1")))] == pytest.approx(20.00035)


def test_batch_sizes_counts_and_gauges() -> None:
    stats = ModelStats()
    for rows in (1, 3, 2000):
        stats.executed(rows)
    stats.inference_count = 4
    samples = scrape(served(stats))
    key = (("model", "m"), ("version", "1"))
    assert samples[("modelport_batch_size_bucket", (("le", "1.0"), *key))] == 1
    assert samples[("modelport_batch_size_bucket", (("le", "2.0"), *key))] == 1
    assert samples[("modelport_batch_size_bucket", (("le", "4.0"), *key))] == 2
    assert samples[("modelport_batch_size_bucket", (("le", "1024.0"), *key))] == 2
    assert samples[("modelport_batch_size_bucket", (("le", "+Inf"), *key))] == 3
    assert samples[("modelport_batch_size_sum", key)] == 2004
    assert samples[("modelport_inference_exec_count_total", key)] == 3
    assert samples[("modelport_inference_count_total", key)] == 4
    assert samples[("modelport_queue_depth", key)] == 2
    assert samples[("modelport_inflight_requests", key)] == 1


def test_failures_by_reason_beside_successes() -> None:
    stats = ModelStats()
    stats.success.add(1_000)
    metrics = served(stats)
    metrics.failure(ErrorCode.INVALID_ARGUMENT, "m")
    metrics.failure(ErrorCode.INVALID_ARGUMENT, "m")
    metrics.failure(ErrorCode.UNAVAILABLE)
    samples = scrape(metrics)
    name = "modelport_inference_requests_total"

    def requests(model: str, version: str, status: str, reason: str) -> float:
        labels = {"model": model, "version": version, "status": status, "reason": reason}
        return samples[(name, tuple(sorted(labels.items())))]

    assert requests("m", "1", "success", "") == 1
    assert requests("m", "", "failure", "invalid") == 2
    assert requests("", "", "failure", "unavailable") == 1


def test_an_unloaded_version_reports_only_its_state() -> None:
    metrics = Metrics()
    metrics.watch(lambda: [ModelGauges("gone", "2", "UNAVAILABLE")])
    samples = scrape(metrics)
    state = (("model", "gone"), ("state", "UNAVAILABLE"), ("version", "2"))
    assert samples[("modelport_model_state", state)] == 1
    assert not [k for k in samples if k[0].startswith("modelport_inference_count")]
