"""Triton's configuration and statistics extensions, and model control in all three modes."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx2
import numpy as np
import pytest
from onnx import TensorProto

from modelport.grpc.server import GrpcServer
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.server import Server
from modelport.settings import Settings
from tests import models

ADD = {
    "inputs": [
        {"name": n, "datatype": "FP32", "shape": [2, 4], "data": list(range(8))} for n in "ab"
    ]
}


async def test_model_config_as_triton_reports_it(client: httpx2.AsyncClient) -> None:
    config = (await client.get("/v2/models/add_sub/config")).json()
    assert config["name"] == "add_sub"
    assert (config["platform"], config["backend"]) == ("onnxruntime_onnx", "onnxruntime")
    assert config["max_batch_size"] == 1024  # batchable and unconfigured: the default
    assert config["input"][0] == {
        "name": "a",
        "data_type": "TYPE_FP32",
        "dims": [4],
        "format": "FORMAT_NONE",
    }
    assert config["output"][1]["name"] == "diff"
    assert config["version_policy"] == {"latest": {"num_versions": 1}}
    versioned = (await client.get("/v2/models/versioned/versions/2/config")).json()
    assert versioned["version_policy"] == {"latest": {"num_versions": 2}}
    strings = (await client.get("/v2/models/identity_bytes/config")).json()
    assert strings["input"][0]["data_type"] == "TYPE_STRING"


async def test_statistics_count_requests_and_rows(digits_client: httpx2.AsyncClient) -> None:
    def stats() -> dict:
        return digits_client.get("/v2/models/digits/stats")

    before = (await stats()).json()["model_stats"][0]
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [3, 784], "data": [0.0] * 2352}]
    }
    for _ in range(2):
        assert (await digits_client.post("/v2/models/digits/infer", json=body)).status_code == 200
    bad = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    assert (await digits_client.post("/v2/models/digits/infer", json=bad)).status_code == 400
    after = (await stats()).json()["model_stats"][0]
    grew = {
        k: after["inference_stats"][k]["count"] - before["inference_stats"][k]["count"]
        for k in ("success", "fail", "queue", "compute_infer")
    }
    assert grew == {"success": 2, "fail": 1, "queue": 2, "compute_infer": 2}
    assert after["inference_count"] - before["inference_count"] == 6
    assert after["execution_count"] - before["execution_count"] == 2
    assert after["last_inference"] > 0 and after["inference_stats"]["success"]["ns"] > 0
    everything = (await digits_client.get("/v2/models/stats")).json()["model_stats"]
    assert [(m["name"], m["version"]) for m in everything] == [("digits", "1")]
    assert (await digits_client.get("/v2/models/nope/stats")).status_code == 404


async def test_load_and_unload_refused_outside_explicit_mode(client: httpx2.AsyncClient) -> None:
    for action in ("load", "unload"):
        response = await client.post(f"/v2/repository/models/add_sub/{action}")
        assert response.status_code == 403
        assert "--model-control-mode explicit" in response.json()["error"]
    assert (await client.post(ADD_SUB, json=ADD)).status_code == 200


ADD_SUB = "/v2/models/add_sub/infer"


@pytest.fixture
async def explicit(repository: Path) -> AsyncIterator[httpx2.AsyncClient]:
    settings = Settings(
        model_repositories=(str(repository),),
        model_control_mode="explicit",
        load_models=("identity_int32",),
    )
    server = Server(settings)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as client:
        yield client
    await server.stop()


async def test_explicit_mode_loads_and_unloads(explicit: httpx2.AsyncClient) -> None:
    index = {e["name"]: e for e in (await explicit.post("/v2/repository/index")).json()}
    assert index["identity_int32"]["state"] == "READY"
    assert (index["add_sub"]["state"], index["add_sub"]["reason"]) == ("UNAVAILABLE", "not loaded")
    assert (await explicit.get("/v2/health/ready")).status_code == 200
    assert (await explicit.post(ADD_SUB, json=ADD)).status_code == 404
    assert (await explicit.post("/v2/repository/models/add_sub/load")).status_code == 200
    assert (await explicit.post(ADD_SUB, json=ADD)).status_code == 200
    assert (await explicit.post("/v2/repository/models/add_sub/unload")).status_code == 200
    gone = await explicit.post(ADD_SUB, json=ADD)
    assert gone.status_code == 503 and "unloaded" in gone.json()["error"]
    assert (await explicit.get("/v2/health/ready")).status_code == 200  # unloaded ≠ failing


@pytest.mark.parametrize(
    ("model", "body", "status", "message"),
    [
        ("nope", None, 404, "no model named 'nope'"),
        ("%2e%2e", None, 400, "invalid model name"),
        ("bad name!", None, 400, "invalid model name"),
        ("broken", None, 400, "failed to load 'broken'"),
        ("add_sub", {"parameters": {"config": "{}"}}, 400, "uploaded ['config'] is not supported"),
        ("add_sub", {"parameters": {"file:1/model.onnx": "AAAA"}}, 400, "is not supported"),
        ("add_sub", [1], 400, "must be a JSON object"),
    ],
)
async def test_explicit_load_errors(
    explicit: httpx2.AsyncClient, model: str, body: object, status: int, message: str
) -> None:
    response = await explicit.post(f"/v2/repository/models/{model}/load", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


# --- poll mode, driven one scan at a time ---------------------------------------------


def fp32_identity(root: Path, version: int) -> Path:
    return models.identity(root / "m" / str(version) / "model.onnx", TensorProto.FLOAT)


@pytest.fixture
async def polled(tmp_path: Path) -> AsyncIterator[tuple[Server, httpx2.AsyncClient, Path]]:
    fp32_identity(tmp_path, 1)
    server = Server(Settings(model_repositories=(str(tmp_path),), model_control_mode="poll"))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as client:
        yield server, client, tmp_path
    await server.stop()


async def versions(client: httpx2.AsyncClient) -> list[str]:
    return (await client.get("/v2/models/m")).json()["versions"]


async def test_new_version_loads_only_once_it_is_stable(
    polled: tuple[Server, httpx2.AsyncClient, Path],
) -> None:
    server, client, root = polled
    (root / "m" / "2").mkdir()
    (root / "m" / "2" / "model.onnx").write_bytes(b"half a")  # still being copied
    await server.control.poll_once()
    assert await versions(client) == ["1"]
    fp32_identity(root, 2)  # the copy finishes
    await server.control.poll_once()
    assert await versions(client) == ["1"]  # changed since the last scan: wait
    await server.control.poll_once()
    assert await versions(client) == ["2"]  # latest-1 policy: 1 retired


async def test_failed_reload_keeps_the_old_version(
    polled: tuple[Server, httpx2.AsyncClient, Path],
) -> None:
    server, client, root = polled
    (root / "m" / "1" / "model.onnx").write_bytes(b"corrupted")
    for _ in range(2):
        await server.control.poll_once()
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [5]}]}
    response = await client.post("/v2/models/m/infer", json=body)
    assert response.status_code == 200
    entry = (await client.post("/v2/repository/index")).json()[0]
    assert entry["state"] == "READY" and entry["reason"].startswith("reload failed")


async def test_removed_model_is_unloaded(polled: tuple[Server, httpx2.AsyncClient, Path]) -> None:
    server, client, root = polled
    shutil.rmtree(root / "m")
    for _ in range(2):
        await server.control.poll_once()
    response = await client.get("/v2/models/m/ready")
    assert response.status_code == 400


async def test_version_swap_under_load_fails_no_request(
    polled: tuple[Server, httpx2.AsyncClient, Path],
) -> None:
    server, client, root = polled
    failures: list[str] = []
    served: set[str] = set()
    stop = asyncio.Event()

    async def swap() -> None:
        for version in (2, 3, 4):
            fp32_identity(root, version)
            await polls(server, 2)
        stop.set()

    await asyncio.gather(*(steady_load(client, stop, failures, served) for _ in range(8)), swap())
    assert failures == []
    assert {"1", "4"} <= served


def grpc_load(port: int, stop: threading.Event, failures: list[str], served: list[str]) -> None:
    """One gRPC client in its own thread until ``stop`` (at most 20,000 calls: bounded)."""
    tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=[1, 1])
    x = np.array([[3.0]], np.float32).tobytes()
    request = pb.ModelInferRequest(model_name="m", inputs=[tensor], raw_input_contents=[x])
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(20_000):
            if stop.is_set():
                return
            try:
                served.append(stub.ModelInfer(request, timeout=30).model_version)
            except grpc.RpcError as exc:
                failures.append(f"{exc.code()}: {exc.details()}")
            time.sleep(0.005)  # in-process clients share the GIL with the server they load


async def test_version_swap_under_grpc_load_fails_no_request_and_counts_each_once(
    polled: tuple[Server, httpx2.AsyncClient, Path],
) -> None:
    """gRPC threads compute an inline model themselves (no hop to the loop): a version
    swapped and drained under 4 clients loses no call, and each success is counted once."""
    server, _, root = polled
    grpc_server = GrpcServer(server.dataplane, max_message_bytes=1 << 20)
    port = await grpc_server.start("127.0.0.1", 0)
    failures: list[str] = []
    served: list[str] = []
    stop = threading.Event()
    clients = [asyncio.to_thread(grpc_load, port, stop, failures, served) for _ in range(4)]

    async def reached(version: str) -> None:
        """Until the clients are answered by ``version`` (bounded: 30 s)."""
        seen = len(served)
        for _ in range(3000):
            if version in served[seen:]:
                return
            await asyncio.sleep(0.01)

    async def swap() -> None:
        await reached("1")
        for version in ("2", "3"):
            fp32_identity(root, int(version))
            for _ in range(300):  # bounded: a load takes a few polls (two scans must agree)
                await polls(server, 1)
                newest = server.registry.ready("m")
                if newest is not None and newest.version == version:
                    break
            await reached(version)
        stop.set()

    try:
        await asyncio.wait_for(asyncio.gather(*clients, swap()), 300)
    finally:
        stop.set()
        await grpc_server.stop(1)
    assert failures == []
    assert {"1", "3"} <= set(served)
    final = server.registry.get("m", "3").stats
    assert final.success.count == served.count("3")  # every call counted exactly once
    assert final.fail.count == 0


# --- a broken new version never takes the serving one down ------------------------------


async def index_of(client: httpx2.AsyncClient) -> dict[str, tuple[str, str]]:
    entries = (await client.post("/v2/repository/index")).json()
    return {e["version"]: (e["state"], e["reason"]) for e in entries}


async def steady_load(
    client: httpx2.AsyncClient, stop: asyncio.Event, failures: list[str], served: set[str]
) -> None:
    """One client sending requests until ``stop`` (at most 4,000: bounded)."""
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    for _ in range(4000):
        if stop.is_set():
            return
        response = await client.post("/v2/models/m/infer", json=body)
        if response.status_code != 200:
            failures.append(response.text)
        else:
            served.add(response.json()["model_version"])
        await asyncio.sleep(0)  # the in-process transport never waits on a socket


async def polls(server: Server, count: int) -> None:
    for _ in range(count):
        await server.control.poll_once()
        await asyncio.sleep(0.01)


async def test_corrupt_new_version_under_load_loses_no_request(
    polled: tuple[Server, httpx2.AsyncClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, client, root = polled
    fp32_identity(root, 2)
    await polls(server, 2)
    failures: list[str] = []
    served: set[str] = set()
    stop = asyncio.Event()

    async def change() -> None:
        (root / "m" / "3").mkdir()
        (root / "m" / "3" / "model.onnx").write_bytes(b"corrupt")
        await polls(server, 6)  # settles, fails once, and is not retried while unchanged
        index = await index_of(client)
        assert index["2"][0] == "READY" and "version(s) [3] failed" in index["2"][1]
        assert index["3"][0] == "UNAVAILABLE" and index["3"][1]
        assert (await client.get("/v2/health/ready")).status_code == 200  # 2 serves on
        assert (await versions(client)) == ["2"]
        fp32_identity(root, 3)  # fixed
        await polls(server, 3)
        stop.set()

    await asyncio.gather(*(steady_load(client, stop, failures, served) for _ in range(8)), change())
    assert failures == []
    assert served == {"2", "3"}
    assert await index_of(client) == {"3": ("READY", "")}  # 2 retired once 3 is ready
    load_errors = [r for r in caplog.records if r.levelname == "ERROR" and "version 3" in r.message]
    assert len(load_errors) == 1  # logged once, not on every poll


async def test_config_that_becomes_invalid_keeps_serving_and_logs_once(
    polled: tuple[Server, httpx2.AsyncClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    server, client, root = polled
    (root / "m" / "config.yaml").write_text("max_batch_size: [not, a, number]\n")
    await polls(server, 5)
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [5]}]}
    assert (await client.post("/v2/models/m/infer", json=body)).status_code == 200
    state, reason = (await index_of(client))["1"]
    assert state == "READY" and reason.startswith("reload failed")
    assert len([r for r in caplog.records if "reload failed" in r.message]) == 1
    (root / "m" / "config.yaml").unlink()
    await polls(server, 2)
    assert await index_of(client) == {"1": ("READY", "")}


async def test_explicit_load_of_a_corrupt_version_keeps_the_serving_one(tmp_path: Path) -> None:
    fp32_identity(tmp_path, 1)
    settings = Settings(
        model_repositories=(str(tmp_path),), model_control_mode="explicit", load_models=("m",)
    )
    server = Server(settings)
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as client:
        (tmp_path / "m" / "2").mkdir()
        (tmp_path / "m" / "2" / "model.onnx").write_bytes(b"corrupt")
        for _ in range(2):  # an explicit load is tried again, and refused again
            response = await client.post("/v2/repository/models/m/load")
            assert response.status_code == 400
            error = response.json()["error"]
            assert "version 2:" in error and "version(s) ['1'] keep serving" in error
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1], "data": [5]}]}
        answer = await client.post("/v2/models/m/infer", json=body)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
        fp32_identity(tmp_path, 2)
        assert (await client.post("/v2/repository/models/m/load")).status_code == 200
        assert (await versions(client)) == ["2"]
    await server.stop()


async def test_polling_keeps_models_loaded_through_the_multi_model_api(tmp_path: Path) -> None:
    repo, loaded = tmp_path / "repo", tmp_path / "opt-ml-models"
    fp32_identity(repo, 1)
    models.identity(loaded / "abc" / "1" / "model.onnx", TensorProto.FLOAT)
    settings = Settings(
        model_repositories=(str(repo),), model_control_mode="poll", multi_model_root=str(loaded)
    )
    server = Server(settings)
    await server.load_models()
    await server.control.load_from("extra", str(loaded / "abc"))
    for _ in range(3):
        await server.control.poll_once()
    assert server.registry.is_ready("extra") and server.registry.is_ready("m")
    await server.stop()
