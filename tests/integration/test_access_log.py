"""Request ids and access lines: the client's id (header, gRPC metadata or V2 body) comes back,
or one is made; with --access-log each request is one line (text or JSON) with its route,
model, status, error, sizes and times, over REST (lane and ASGI) and gRPC."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx2
import orjson
import pytest

from modelport.accesslog import AccessLog, JsonFormatter, request_id
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.server import Server
from modelport.settings import Settings, settings_from

ADD = {
    "inputs": [
        {"name": n, "datatype": "FP32", "shape": [2, 4], "data": list(range(8))} for n in "ab"
    ]
}
MADE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]+$")


async def test_the_clients_request_id_comes_back_or_one_is_made(
    client: httpx2.AsyncClient,
) -> None:
    given = await client.post(
        "/v2/models/add_sub/infer", json=ADD, headers={"x-request-id": "order-42:try/1"}
    )
    assert given.headers["x-request-id"] == "order-42:try/1"
    from_body = await client.post("/v2/models/add_sub/infer", json={**ADD, "id": "body-7"})
    assert from_body.headers["x-request-id"] == "body-7" and from_body.json()["id"] == "body-7"
    made = [(await client.post("/v2/models/add_sub/infer", json=ADD)).headers for _ in range(3)]
    ids = [h["x-request-id"] for h in made]
    assert all(MADE.match(i) for i in ids) and len(set(ids)) == 3
    failed = await client.post("/v2/models/nope/infer", json=ADD, headers={"x-request-id": "e-1"})
    assert (failed.status_code, failed.headers["x-request-id"]) == (404, "e-1")
    other = await client.get("/v2/models/add_sub", headers={"x-request-id": "meta-1"})
    assert other.headers["x-request-id"] == "meta-1"


@pytest.mark.parametrize("unsafe", ["a b", "x" * 129, "<script>", "id\u00e9", ""])
def test_an_unsafe_id_is_replaced_since_it_goes_into_a_header(unsafe: str) -> None:
    assert MADE.match(request_id(unsafe, None))
    assert request_id(unsafe, "fallback-1") == "fallback-1"


async def test_grpc_returns_the_request_id_in_trailing_metadata(
    grpc_channel: grpc.aio.Channel,
) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(grpc_channel)
    call = stub.ServerLive(pb.ServerLiveRequest(), metadata=(("x-request-id", "live-9"),))
    await call
    assert ("x-request-id", "live-9") in tuple(await call.trailing_metadata())
    call = stub.ModelMetadata(pb.ModelMetadataRequest(name="nope"))
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    trailers = dict(failed.value.trailing_metadata())
    assert MADE.match(trailers["x-request-id"])


@pytest.fixture
async def logged(repository: Path) -> AsyncIterator[tuple[Server, io.BytesIO]]:
    """A server on real sockets (HTTP lane and gRPC) whose JSON access lines go to a buffer."""
    settings = Settings(
        model_repositories=(str(repository),),
        http_port=0,
        grpc_port=0,
        access_log=True,
        log_format="json",
    )
    server = Server(settings)
    lines = io.BytesIO()
    server.access = AccessLog(True, lines)
    await server.start()
    yield server, lines
    await server.stop()


def _records(lines: io.BytesIO) -> list[dict]:
    return [orjson.loads(line) for line in lines.getvalue().splitlines()]


async def test_each_request_is_one_json_access_line(logged: tuple[Server, io.BytesIO]) -> None:
    server, lines = logged
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        ok = await http.post("/v2/models/add_sub/infer", json=ADD, headers={"x-request-id": "ok-1"})
        await http.post("/v2/models/nope/infer", json=ADD, headers={"x-request-id": "bad-1"})
        await http.get("/v2/health/ready", headers={"x-request-id": "health-1"})
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="identity_fp32", id="g-1")
        tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 2])
        tensor.contents.fp32_contents.extend([1.0, 2.0])
        await stub.ModelInfer(request)
    server.access.flush()
    by_id = {r["request_id"]: r for r in _records(lines)}
    good = by_id["ok-1"]
    assert good["kind"] == "access" and good["protocol"] == "http"
    assert (good["route"], good["model"], good["version"]) == (
        "/v2/models/{model}/infer",
        "add_sub",
        "1",
    )
    assert (good["status"], good["error"]) == (200, "")
    assert good["bytes_in"] == len(ok.request.content) and good["bytes_out"] == len(ok.content)
    assert good["compute_ms"] > 0 and good["duration_ms"] >= good["compute_ms"]
    assert good["client"] == "127.0.0.1" and good["time"].endswith("Z")
    assert (by_id["bad-1"]["status"], by_id["bad-1"]["error"]) == (404, "NOT_FOUND")
    assert by_id["health-1"]["route"] == "GET /v2/health/ready"
    infer = by_id["g-1"]
    assert (infer["protocol"], infer["route"], infer["status"]) == ("grpc", "ModelInfer", "OK")
    assert infer["model"] == "identity_fp32" and infer["bytes_in"] > 0 and infer["compute_ms"] > 0


async def test_text_access_lines_say_the_same_in_one_line(repository: Path) -> None:
    settings = Settings(model_repositories=(str(repository),), access_log=True)
    server = Server(dataclasses.replace(settings, http_port=0, allow_grpc=False))
    lines = io.BytesIO()
    server.access = AccessLog(False, lines)
    await server.start()
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
            await http.post("/v2/models/add_sub/infer", json=ADD, headers={"x-request-id": "t-1"})
    finally:
        await server.stop()
    (line,) = [x for x in lines.getvalue().decode().splitlines() if "id=t-1" in x]
    assert " 127.0.0.1 - http /v2/models/{model}/infer add_sub/1 200 in=" in line


def test_json_logs_are_one_object_per_record() -> None:
    try:
        raise ValueError("broken model")
    except ValueError:
        record = logging.LogRecord(
            "modelport.registry", logging.ERROR, "f", 1, "model %s", ("m",), None
        )
        record.exc_info = __import__("sys").exc_info()
    fields = orjson.loads(JsonFormatter().format(record))
    assert (fields["level"], fields["logger"], fields["message"]) == (
        "error",
        "modelport.registry",
        "model m",
    )
    assert "ValueError: broken model" in fields["exception"]
    with pytest.raises(ValueError, match="--log-format"):
        settings_from({"MODELPORT_LOG_FORMAT": "xml"})
