"""Many models on one server under ``--model-memory-budget``: the least recently used idle
models are parked and restored on their next request, and no request fails because of it.

Each test model is a Python model that reads a 16 MiB weights file into memory at load, so
its measured memory (never less than its files' size) is about 16 MiB: a 40 MiB budget holds
two of them and never three.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import numpy as np
import pytest

from modelport.client import Client
from modelport.memory import parse_bytes, shown_bytes
from modelport.server import Server
from modelport.settings import Settings, settings_from

MiB = 1 << 20
WEIGHTS = 16 * MiB
BUDGET = 40 * MiB
MODELS = 5

WEIGHTED_MODEL = """
import time

import numpy as np


class Model:
    inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]
    outputs = [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]

    def load(self, version_dir):
        self.weights = (version_dir / "weights.bin").read_bytes()
        self.factor = float((version_dir / "factor.txt").read_text())

    def infer(self, inputs):
        time.sleep(float(inputs["x"].max()) / 1000)  # x milliseconds: a request in flight
        return {"y": inputs["x"] * self.factor}
"""


def weighted_model(model_dir: Path, factor: float, weights: int = WEIGHTS) -> None:
    version = model_dir / "1"
    version.mkdir(parents=True)
    (version / "model.py").write_text(WEIGHTED_MODEL)
    (version / "factor.txt").write_text(str(factor))
    with (version / "weights.bin").open("wb") as f:
        f.truncate(weights)  # read at load: real memory, no disk space
    (model_dir / "config.yaml").write_text("parameters: {execution: thread}\n")


@pytest.fixture(scope="module")
def many_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("many")
    for i in range(MODELS):
        weighted_model(root / f"m{i}", factor=i + 1)
    return root


@pytest.fixture
async def budget_server(many_models: Path) -> AsyncIterator[Server]:
    settings = Settings(
        model_repositories=(str(many_models),),
        http_port=0,
        grpc_port=0,
        model_memory_budget=BUDGET,
    )
    server = Server(settings)
    await server.start()
    yield server
    await server.stop()


async def _index(http: httpx2.AsyncClient) -> list[dict]:
    response = await http.post("/v2/repository/index")
    assert response.status_code == 200
    return [e for e in response.json() if e["name"].startswith("m")]


def _resident(index: list[dict]) -> list[str]:
    return [e["name"] for e in index if e["resident"]]


async def test_every_model_is_ready_and_only_what_fits_is_resident(
    budget_server: Server,
) -> None:
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{budget_server.http_port}") as http:
        index = await _index(http)
        assert [e["state"] for e in index] == ["READY"] * MODELS
        assert len(_resident(index)) == 2
        assert all(e["memory_bytes"] >= WEIGHTS for e in index)
        parked = [e for e in index if not e["resident"]]
        assert all("parked under the memory budget" in e["reason"] for e in parked)
        assert (await http.get("/v2/health/ready")).status_code == 200
        for e in parked:  # a parked model is ready: its next request loads it
            assert (await http.get(f"/v2/models/{e['name']}/ready")).status_code == 200
            assert (await http.get(f"/v2/models/{e['name']}")).json()["inputs"][0]["name"] == "x"


async def test_a_parked_model_answers_and_the_least_recently_used_makes_room(
    budget_server: Server,
) -> None:
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{budget_server.http_port}") as http:
        for name in ("m0", "m1", "m2", "m0", "m3"):
            body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [1]}]}
            answer = await http.post(f"/v2/models/{name}/infer", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"][0]["data"] == [float(name[1:]) + 1]
        # Room for two: m2 took the place of m0 (used before m1), m0 came back in place of
        # m1, and m3 took the place of m2.
        assert sorted(_resident(await _index(http))) == ["m0", "m3"]
        metrics = (await http.get("/metrics")).text
    assert _sample(metrics, "modelport_model_restores_total") >= 3
    assert _sample(metrics, "modelport_memory_budget_bytes") == BUDGET
    assert _sample(metrics, "modelport_memory_budget_used_bytes") <= BUDGET
    assert _sample(metrics, 'modelport_model_resident{model="m3",version="1"}') == 1
    assert _sample(metrics, 'modelport_model_memory_bytes{model="m3",version="1"}') >= WEIGHTS


async def test_no_request_fails_under_concurrent_load_on_more_models_than_fit(
    budget_server: Server,
) -> None:
    """Eight clients (REST and gRPC) send 40 requests each to random models: every answer
    is right, models were parked and restored throughout, and the budget held."""
    http_url = f"127.0.0.1:{budget_server.http_port}"
    grpc_url = f"127.0.0.1:{budget_server.grpc_port}"

    def client_loop(url: str, seed: int) -> list[str]:
        wrong = []
        pick = random.Random(seed)
        with Client(url, protocol="grpc" if seed % 2 else "rest") as client:
            for _ in range(40):
                i = pick.randrange(MODELS)
                x = np.array([[pick.choice([0.0, 2.0, 5.0])]], np.float32)
                y = client.infer(f"m{i}", {"x": x})["y"]
                if not np.array_equal(y, x * (i + 1)):
                    wrong.append(f"m{i}: {x} -> {y}")
        return wrong

    async with httpx2.AsyncClient(base_url=f"http://{http_url}") as http:
        before = _sample((await http.get("/metrics")).text, "modelport_model_parks_total")
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(8) as clients:  # not the loop's executor: the server's loads
            loops = [
                loop.run_in_executor(clients, client_loop, grpc_url if seed % 2 else http_url, seed)
                for seed in range(8)
            ]
            results = await asyncio.gather(*loops)
        assert [w for r in results for w in r] == []
        metrics = (await http.get("/metrics")).text
        assert _sample(metrics, "modelport_model_parks_total") - before >= 10
        assert not _failures(metrics)
        index = await _index(http)
        assert [e["state"] for e in index] == ["READY"] * MODELS
        assert sum(e["memory_bytes"] for e in index if e["resident"]) <= BUDGET


async def test_a_model_with_a_request_in_flight_is_never_parked(budget_server: Server) -> None:
    """m0 is busy for 1.5 s while three other models are asked for: m0 keeps its runtime,
    answers, and the others take turns in the room that is left."""
    async with httpx2.AsyncClient(
        base_url=f"http://127.0.0.1:{budget_server.http_port}", timeout=30
    ) as http:

        def body(x: float) -> dict:
            return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [x]}]}

        busy = asyncio.create_task(http.post("/v2/models/m0/infer", json=body(1500)))
        await asyncio.sleep(0.3)
        for name in ("m1", "m2", "m3"):
            answer = await http.post(f"/v2/models/{name}/infer", json=body(0))
            assert answer.status_code == 200, answer.text
            assert "m0" in _resident(await _index(http))
        answer = await busy
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == [1500.0]


async def test_a_model_larger_than_the_whole_budget_is_refused_with_its_size(
    tmp_path: Path,
) -> None:
    weighted_model(tmp_path / "huge", factor=1, weights=48 * MiB)
    weighted_model(tmp_path / "small", factor=2)
    settings = Settings(model_repositories=(str(tmp_path),), model_memory_budget=BUDGET)
    server = Server(dataclasses.replace(settings, http_port=0, allow_grpc=False))
    await server.start()
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
            index = {e["name"]: e for e in await _index_all(http)}
            assert index["huge"]["state"] == "UNAVAILABLE"
            assert (
                "more than the whole --model-memory-budget (40.0 MiB)" in (index["huge"]["reason"])
            )
            assert index["small"]["state"] == "READY"
    finally:
        await server.stop()


async def _index_all(http: httpx2.AsyncClient) -> list[dict]:
    return (await http.post("/v2/repository/index")).json()


def test_budget_sizes_read_as_people_write_them() -> None:
    assert parse_bytes("2GiB") == 2 << 30
    assert parse_bytes("512M") == 512_000_000
    assert parse_bytes("1.5 gb") == 1_500_000_000
    assert parse_bytes("1e9") == 10**9
    assert parse_bytes("4096") == 4096
    for bad in ("", "lots", "2 GiBs", "-1G"):
        with pytest.raises(ValueError, match="expected a size such as 512MiB"):
            parse_bytes(bad)
    assert shown_bytes(3 * MiB // 2) == "1.5 MiB"
    assert settings_from({"MODELPORT_MODEL_MEMORY_BUDGET": "1GiB"}).model_memory_budget == 1 << 30


def _sample(metrics: str, name: str) -> float:
    pattern = re.escape(name) + (r"(?:\{\})?" if "{" not in name else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", metrics, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def _failures(metrics: str) -> list[str]:
    return re.findall(r'^modelport_inference_requests_total\{.*status="failure".*$', metrics, re.M)
