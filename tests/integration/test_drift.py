"""Drift over a running server: `modelport profile-data` writes a model's reference; traffic
like the reference keeps PSI flat in /metrics, shifted traffic (over gRPC as over REST)
raises it and is seen outside the reference's range; without a profile the first requests are
the reference; a broken profile fails the load, naming the file."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import numpy as np
import pytest
from onnx import TensorProto

from modelport.cli import main
from modelport.client import Client
from modelport.server import Server
from modelport.settings import Settings
from tests import models

FEATURES = 6
RNG = np.random.default_rng(3)


def _figure(metrics: str, name: str, tensor: str) -> float | None:
    pattern = rf'^modelport_drift_{name}{{model="scores",tensor="{tensor}",version="1"}} (\S+)$'
    found = re.search(pattern, metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


async def _metrics(port: int) -> str:
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        return (await http.get("/metrics")).text


async def _settled(port: int, tensor: str, rows: float) -> str:
    """/metrics once the log's writer thread has taken the rows in (it works off the request
    path; polled, at most 400 times)."""
    for _ in range(400):
        metrics = await _metrics(port)
        if _figure(metrics, "rows", tensor) == rows:
            return metrics
        await asyncio.sleep(0.025)
    raise AssertionError(f"the drift window of {tensor} never held {rows} rows:\n{metrics}")


def _send(address: str, protocol: str, batches: list[np.ndarray]) -> None:
    with Client(address, protocol=protocol) as client:
        for rows in batches:
            client.infer("scores", {"input": rows.astype(np.float32)})


@pytest.fixture
async def profiled(tmp_path: Path) -> AsyncIterator[Server]:
    """``scores`` (output = input) with a profile of its training rows' input; the output's
    reference is its first 200 rows."""
    repo, sink = tmp_path / "repo", tmp_path / "records"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    training = tmp_path / "training.npy"
    np.save(training, RNG.normal(size=(4000, FEATURES)).astype(np.float32))
    profile = repo / "scores" / "profile.json"
    assert main(["profile-data", str(training), "--out", str(profile)]) == 0
    (repo / "scores" / "config.yaml").write_text(
        f"logging: {{sink: {sink}, drift: {{window: 200, reference_rows: 200}}}}\n"
    )
    settings = Settings(model_repositories=(str(repo),), http_port=0, grpc_port=0)
    server = Server(settings)
    await server.start()
    yield server
    await server.stop()


async def test_psi_stays_flat_on_reference_traffic_and_rises_on_a_shift(profiled: Server) -> None:
    rest, grpc = f"127.0.0.1:{profiled.http_port}", f"127.0.0.1:{profiled.grpc_port}"
    alike = [RNG.normal(size=(10, FEATURES)) for _ in range(20)]
    await asyncio.to_thread(_send, rest, "rest", alike)
    metrics = await _settled(profiled.http_port, "input", 200)
    assert (psi := _figure(metrics, "psi", "input")) is not None and psi < 0.15
    assert _figure(metrics, "rows", "output") == 0  # its first 200 rows made its reference
    shifted = [RNG.normal(1.5, 1.0, size=(10, FEATURES)) for _ in range(20)]
    await asyncio.to_thread(_send, grpc, "grpc", shifted)
    metrics = await _settled(profiled.http_port, "output", 200)
    assert (psi := _figure(metrics, "psi", "input")) is not None and psi > 0.5
    assert (ks := _figure(metrics, "ks", "input")) is not None and ks > 0.3
    assert (outside := _figure(metrics, "out_of_range", "input")) is not None and outside > 0
    assert (psi := _figure(metrics, "psi", "output")) is not None and psi > 0.5


async def test_profile_data_with_a_server_profiles_its_answers(
    profiled: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    training = tmp_path / "more.npy"
    np.save(training, RNG.normal(size=(300, FEATURES)).astype(np.float32))
    out = tmp_path / "with-outputs.json"
    url = f"127.0.0.1:{profiled.http_port}"
    argv = ["profile-data", str(training), "--out", str(out), "--url", url, "--model", "scores"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "input (6 features), output (6 features)" in capsys.readouterr().out
    assert main(["profile-data", str(training), "--out", str(out), "--url", url]) == 1
    assert "go together" in capsys.readouterr().err


async def test_a_broken_profile_fails_the_load_naming_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    (repo / "scores" / "profile.json").write_text('{"format": "something else"}')
    (repo / "scores" / "config.yaml").write_text(f"logging: {{sink: {tmp_path}, drift: true}}\n")
    server = Server(Settings(model_repositories=(str(repo),), http_port=0, allow_grpc=False))
    await server.start()
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
            index = (await http.post("/v2/repository/index", json={})).json()
    finally:
        await server.stop()
    assert index[0]["state"] == "UNAVAILABLE"
    assert "profile.json: not a drift profile" in index[0]["reason"]


def test_profile_data_refuses_what_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = tmp_path / "words.npy"
    np.save(words, np.array(["a", "b"]))
    assert main(["profile-data", str(words), "--out", str(tmp_path / "p.json")]) == 1
    assert "no numeric tensor" in capsys.readouterr().err
    assert main(["profile-data", str(tmp_path / "none.npz"), "--out", "p.json"]) == 1
    assert "none.npz" in capsys.readouterr().err
