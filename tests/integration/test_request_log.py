"""Request logging: a model's config.yaml asks for a sample of its requests; records (keyed by
the request id the client got) reach JSON-lines files in a folder or an fsspec URL, off the
request path; a full queue drops and counts instead of waiting; no config, no record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import numpy as np
import pytest

from modelport.config import ConfigError, RequestLogging, parse_model_config
from modelport.requestlog import RequestLog
from modelport.server import Server
from modelport.settings import Settings
from modelport.types import InferInput, InferOutput, InferRequest, InferResponse
from tests import models

ADD = {
    "inputs": [{"name": n, "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]} for n in "ab"]
}


def _records(folder: Path) -> list[dict]:
    files = sorted(folder.rglob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


@pytest.fixture
async def logging_server(tmp_path: Path) -> AsyncIterator[tuple[Server, Path]]:
    """add_sub logs half its requests; quiet (the same model) logs none."""
    repo, sink = tmp_path / "repo", tmp_path / "records"
    models.add_sub(repo / "add_sub" / "1" / "model.onnx")
    (repo / "add_sub" / "config.yaml").write_text(f"logging: {{sink: {sink}, sample: 0.5}}\n")
    models.add_sub(repo / "quiet" / "1" / "model.onnx")
    server = Server(Settings(model_repositories=(str(repo),), http_port=0, allow_grpc=False))
    await server.start()
    yield server, sink
    await server.stop()


async def test_a_sample_of_requests_is_recorded_under_the_ids_clients_got(
    logging_server: tuple[Server, Path],
) -> None:
    server, sink = logging_server
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        sent = {}
        for i in range(400):
            body = {"inputs": [{**t, "data": [i, i, i, i]} for t in ADD["inputs"]]}
            answer = await http.post("/v2/models/add_sub/infer", json=body)
            sent[answer.headers["x-request-id"]] = i
        for _ in range(20):
            await http.post("/v2/models/quiet/infer", json=ADD)
        metrics = (await http.get("/metrics")).text
    await server.stop()  # writes what is queued
    records = _records(sink)
    assert 120 <= len(records) <= 280  # 400 requests at 0.5: 200 ± 8 standard deviations
    assert {r["model"] for r in records} == {"add_sub"}
    assert all(f.parent == sink / "add_sub" / "1" for f in sink.rglob("*.jsonl"))
    for record in records:
        i = sent[record["request_id"]]
        assert record["inputs"]["a"] == {"datatype": "FP32", "shape": [1, 4], "data": [[i] * 4]}
        assert record["outputs"]["sum"]["data"] == [[2 * i] * 4]
        assert record["time"].endswith("Z")
    line = f'modelport_request_log_records_total{{model="add_sub",version="1"}} {len(records)}.0'
    assert line in metrics  # counted as they are queued, so the scrape saw them all
    assert 'modelport_request_log_dropped_total{model="add_sub",version="1"} 0.0' in metrics
    assert 'modelport_request_log_records_total{model="quiet"' not in metrics


def _entry(i: int) -> tuple[str, InferRequest, InferResponse]:
    data = np.full((1, 2), i, np.float32)
    request = InferRequest("m", (InferInput("x", "FP32", data),))
    return f"r-{i}", request, InferResponse("m", "1", (InferOutput("y", "FP32", data * 2),))


def test_a_full_queue_drops_and_counts_and_never_waits(tmp_path: Path) -> None:
    log = RequestLog(RequestLogging(str(tmp_path)), "m", "1", capacity=3)
    log._thread = object()  # type: ignore[assignment]  # a writer that never drains
    for i in range(10):
        log.offer(*_entry(i))
    assert (log.recorded, log.dropped) == (3, 7)


def test_inputs_or_outputs_can_be_left_out_and_bytes_read_as_text(tmp_path: Path) -> None:
    log = RequestLog(RequestLogging(str(tmp_path), inputs=False), "m", "1", flush_s=0.05)
    words = np.array([b"caf\xc3\xa9", b"\xff"], dtype=object)
    request = InferRequest("m", (InferInput("text", "BYTES", words),))
    log.offer("w-1", request, InferResponse("m", "1", (InferOutput("echo", "BYTES", words),)))
    log.close()
    (record,) = _records(tmp_path)
    assert "inputs" not in record
    assert record["outputs"]["echo"]["data"] == ["café", "\ufffd"]


def test_an_fsspec_url_is_a_sink_too(tmp_path: Path) -> None:
    fsspec = pytest.importorskip("fsspec")
    log = RequestLog(RequestLogging("memory://records"), "m", "1", flush_s=0.05)
    for i in range(5):
        log.offer(*_entry(i))
    log.close()
    memory = fsspec.filesystem("memory")
    files = memory.glob("/records/m/1/*.jsonl")
    lines = [json.loads(x) for f in files for x in memory.cat(f).splitlines()]
    assert sorted(r["request_id"] for r in lines) == [f"r-{i}" for i in range(5)]


def test_a_failing_sink_loses_records_not_the_server(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    log = RequestLog(RequestLogging(str(blocked)), "m", "1", flush_s=0.05)
    log.offer(*_entry(1))
    log.close()
    assert log.lost == 1


@pytest.mark.parametrize(
    "block",
    ["logging: {sample: 0.1}", "logging: {sink: /x, sample: 0}", "logging: {sink: /x, sample: 2}",
     "logging: {sink: /x, inputs: maybe}", "logging: {sink: '', sample: 0.5}", "logging: [1]",
     "logging: {sink: /x, rate: 1}", "logging: {sink: /x, format: csv}",
     "logging: {sink: /x, drift: maybe}", "logging: {sink: /x, drift: {window: 5}}",
     "logging: {sink: /x, drift: {profile: ../other/profile.json}}",
     "logging: {sink: /x, drift: {profile: /etc/profile.json}}",
     "logging: {sink: /x, drift: {reference_rows: 1.5}}", "logging: {sink: /x, drift: {bins: 3}}"],
)  # fmt: skip
def test_a_bad_logging_block_is_refused_naming_it(block: str) -> None:
    with pytest.raises(ConfigError, match="logging"):
        parse_model_config(block, "config.yaml")


def test_a_drift_block_reads_its_defaults_and_settings() -> None:
    watched = parse_model_config("logging: {sink: /x, drift: true}", "config.yaml")
    assert watched.request_logging is not None and watched.request_logging.drift is not None
    assert watched.request_logging.drift.window == 1000
    block = "logging: {sink: /x, format: parquet, drift: {profile: ref/p.json, window: 50}}"
    given = parse_model_config(block, "config.yaml").request_logging
    assert given is not None and given.format == "parquet" and given.drift is not None
    assert (given.drift.profile, given.drift.window) == ("ref/p.json", 50)


def test_no_logging_block_no_records() -> None:
    assert parse_model_config("max_batch_size: 8\n", "config.yaml").request_logging is None
    assert parse_model_config("logging: false\n", "config.yaml").request_logging is None


def test_parquet_files_hold_the_same_records(tmp_path: Path) -> None:
    from modelport import logfiles

    config = RequestLogging(str(tmp_path), format="parquet")
    log = RequestLog(config, "m", "1", flush_s=60)
    for i in range(5):
        log.offer(*_entry(i))
    log.label("r-3", ["fraud"])
    log.label("r-4", [2.5])
    log.close()
    files = sorted(p.name.split("-")[0] for p in (tmp_path / "m" / "1").iterdir())
    assert files == ["labels", "requests"]
    records = {(r["kind"], r["request_id"]): r for r in logfiles.read(tmp_path)}
    request = records["request", "r-2"]
    assert request["inputs"]["x"] == {"datatype": "FP32", "shape": [1, 2], "data": [2.0, 2.0]}
    assert request["outputs"]["y"]["data"] == [4.0, 4.0]
    assert records["label", "r-3"]["labels"] == ["fraud"]
    assert records["label", "r-4"]["labels"] == [2.5]
