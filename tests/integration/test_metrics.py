"""Prometheus metrics at /metrics: outcomes by reason, counts, histograms, model state."""

from __future__ import annotations

from pathlib import Path

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from modelport.server import Server
from modelport.settings import Settings

BODY = {"inputs": [{"name": n, "datatype": "FP32", "shape": [2, 4], "data": [0] * 8} for n in "ab"]}


async def scrape(
    client: httpx2.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_request_outcomes_counts_and_histograms(client: httpx2.AsyncClient) -> None:
    before = await scrape(client)
    assert (await client.post("/v2/models/add_sub/infer", json=BODY)).status_code == 200
    bad = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [1]}]}
    assert (await client.post("/v2/models/add_sub/infer", json=bad)).status_code == 400
    assert (await client.post("/v2/models/nope/infer", json=BODY)).status_code == 404
    assert (await client.post("/v2/models/add_sub/infer", content=b"{oops")).status_code == 400
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ok = {"model": "add_sub", "version": "1"}
    assert grew("modelport_inference_requests_total", **ok, status="success", reason="") == 1
    invalid = {"model": "add_sub", "version": "", "status": "failure", "reason": "invalid"}
    assert grew("modelport_inference_requests_total", **invalid) == 2
    unknown = {"model": "", "version": "", "status": "failure", "reason": "not_found"}
    assert grew("modelport_inference_requests_total", **unknown) == 1
    assert grew("modelport_inference_count_total", **ok) == 2  # rows
    assert grew("modelport_inference_exec_count_total", **ok) == 1
    assert grew("modelport_inference_request_duration_seconds_count", **ok) == 1
    assert grew("modelport_inference_queue_duration_seconds_count", **ok) == 1
    assert grew("modelport_inference_compute_duration_seconds_count", **ok) == 1
    assert grew("modelport_batch_size_sum", **ok) == 2


async def test_model_state_and_process_gauges(client: httpx2.AsyncClient) -> None:
    samples = await scrape(client)
    assert value(samples, "modelport_model_state", model="add_sub", version="1", state="READY") == 1
    assert (
        value(samples, "modelport_model_state", model="broken", version="1", state="UNAVAILABLE")
        == 1
    )
    assert value(samples, "modelport_model_load_seconds", model="add_sub", version="1") > 0
    assert value(samples, "modelport_queue_depth", model="batched", version="1") == 0
    assert value(samples, "modelport_process_resident_memory_bytes") > 0


async def test_metrics_port_serves_only_metrics(repository: Path) -> None:
    settings = Settings(
        model_repositories=(str(repository),),
        http_port=0,
        grpc_port=0,
        metrics_port=0,
        allow_grpc=False,
    )
    server = Server(settings)
    await server.start()
    try:
        assert server.metrics_port > 0
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.metrics_port}") as c:
            metrics = await c.get("/metrics")
            assert metrics.status_code == 200 and "modelport_model_state" in metrics.text
            assert (await c.post("/v2/models/add_sub/infer", json=BODY)).status_code == 404
    finally:
        await server.stop()
