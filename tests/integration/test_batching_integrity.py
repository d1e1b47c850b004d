"""Dynamic batching through the real protocols: every request gets exactly its own rows."""

from __future__ import annotations

import asyncio
import random

import grpc
import httpx2
import numpy as np
import orjson

from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc

URL = "/v2/models/batched/infer"


def payload(i: int, count: int) -> np.ndarray:
    return (np.arange(count * 3, dtype=np.float32).reshape(count, 3) + 1000 * i) / 7


async def one_json(client: httpx2.AsyncClient, i: int, count: int, url: str = URL) -> bool:
    x = payload(i, count)
    body = {
        "id": f"j{i}",
        "inputs": [
            {
                "name": "input",
                "datatype": "FP32",
                "shape": list(x.shape),
                "data": x.ravel().tolist(),
            }
        ],
    }
    response = await client.post(url, json=body)
    result = response.json()
    got = np.array(result["outputs"][0]["data"], np.float32).reshape(result["outputs"][0]["shape"])
    return result["id"] == f"j{i}" and np.array_equal(got, x)


async def one_binary(client: httpx2.AsyncClient, i: int, count: int) -> bool:
    x = payload(i, count)
    head = orjson.dumps(
        {
            "id": f"b{i}",
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": list(x.shape),
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    response = await client.post(
        URL, content=head + x.tobytes(), headers={"Inference-Header-Content-Length": str(len(head))}
    )
    length = int(response.headers["Inference-Header-Content-Length"])
    header = orjson.loads(response.content[:length])
    got = np.frombuffer(response.content[length:], np.float32).reshape(x.shape)
    return header["id"] == f"b{i}" and np.array_equal(got, x)


async def test_d1_d2_concurrent_rest_requests_get_their_own_rows(
    client: httpx2.AsyncClient,
) -> None:
    before = (await client.get("/v2/models/batched/stats")).json()["model_stats"][0]
    rng = random.Random(7)
    calls = [
        (one_json if i % 2 else one_binary)(client, i, rng.choice([1, 3, 7])) for i in range(40)
    ]
    assert all(await asyncio.gather(*calls))
    after = (await client.get("/v2/models/batched/stats")).json()["model_stats"][0]
    executions = after["execution_count"] - before["execution_count"]
    requests = (
        after["inference_stats"]["success"]["count"] - before["inference_stats"]["success"]["count"]
    )
    assert requests == 40
    assert executions < requests  # requests were merged into batches


async def test_r8_flooded_queue_answers_503_at_once(client: httpx2.AsyncClient) -> None:
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}
    responses = await asyncio.gather(*(client.post(URL, json=body) for _ in range(150)))
    codes = [r.status_code for r in responses]
    assert set(codes) == {200, 503}  # the queue holds 48: the excess is refused, not queued
    for response in responses:
        if response.status_code == 503:
            assert "queue of model 'batched' is full (48 requests)" in response.json()["error"]
        else:
            assert response.json()["outputs"][0]["data"] == [1, 2, 3]
    assert (await client.post(URL, json=body)).status_code == 200


async def test_d9_grpc_stream_answers_are_matched_by_id(grpc_channel: grpc.aio.Channel) -> None:
    stub = pb_grpc.GRPCInferenceServiceStub(grpc_channel)
    requests = []
    for i in range(32):
        x = payload(i, 1 + i % 3)
        request = pb.ModelInferRequest(model_name="batched", id=f"s{i}")
        request.inputs.add(name="input", datatype="FP32", shape=x.shape)
        request.raw_input_contents.append(x.tobytes())
        requests.append(request)
    answers = [a async for a in stub.ModelStreamInfer(iter(requests))]
    assert len(answers) == 32 and not any(a.error_message for a in answers)
    for answer in answers:
        i = int(answer.infer_response.id[1:])
        got = np.frombuffer(answer.infer_response.raw_output_contents[0], np.float32)
        assert np.array_equal(got, payload(i, 1 + i % 3).ravel())


async def test_an_inline_batched_model_computes_a_lone_request_on_the_spot(tmp_path) -> None:
    """Adaptive batching: one client at a time gets no queue time at all (each request is a
    batch of one, computed as an unbatched model would), while requests that arrive
    together over real sockets are still merged, each getting its own rows."""
    from onnx import TensorProto

    from modelport.server import Server
    from modelport.settings import Settings
    from tests import models

    models.identity(tmp_path / "inline" / "1" / "model.onnx", TensorProto.FLOAT)
    (tmp_path / "inline" / "config.yaml").write_text(
        "max_batch_size: 64\ndynamic_batching: {max_queue_delay_microseconds: 2000}\n"
        "parameters: {execution: inline}\n"
    )
    server = Server(Settings(model_repositories=(str(tmp_path),), http_port=0, allow_grpc=False))
    await server.start()
    url = "/v2/models/inline/infer"
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
            for i in range(20):  # one at a time
                body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3],
                                    "data": [i, i, i]}]}  # fmt: skip
                assert (await http.post(url, json=body)).json()["outputs"][0]["data"] == [i] * 3
            alone = (await http.get("/v2/models/inline/stats")).json()["model_stats"][0]
        limits = httpx2.Limits(max_connections=64)
        async with httpx2.AsyncClient(
            base_url=f"http://127.0.0.1:{server.http_port}", limits=limits
        ) as http:
            calls = [one_json(http, i, 1 + i % 4, url) for i in range(64)]
            assert all(await asyncio.gather(*calls))
            together = (await http.get("/v2/models/inline/stats")).json()["model_stats"][0]
    finally:
        await server.stop()
    assert alone["execution_count"] == alone["inference_stats"]["success"]["count"] == 20
    assert alone["inference_stats"]["queue"]["ns"] == 0
    executions = together["execution_count"] - alone["execution_count"]
    assert executions < 64  # requests that came together were merged


async def test_a_latency_objective_shows_its_choices_in_metrics(tmp_path) -> None:
    """``dynamic_batching.latency_slo_ms``: the configured delay and size are where the
    tuner starts (its bounds); /metrics shows what it chose; bad values are refused."""
    import pytest
    from onnx import TensorProto

    from modelport.config import ConfigError, parse_model_config
    from modelport.server import Server
    from modelport.settings import Settings
    from tests import models

    models.identity(tmp_path / "tuned" / "1" / "model.onnx", TensorProto.FLOAT)
    (tmp_path / "tuned" / "config.yaml").write_text(
        "max_batch_size: 24\n"
        "dynamic_batching: {max_queue_delay_microseconds: 1500, latency_slo_ms: 20}\n"
    )
    server = Server(Settings(model_repositories=(str(tmp_path),), http_port=0, allow_grpc=False))
    await server.start()
    try:
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
            assert all(await asyncio.gather(*[one_json(http, i, 2, "/v2/models/tuned/infer")
                                              for i in range(32)]))  # fmt: skip
            metrics = (await http.get("/metrics")).text
    finally:
        await server.stop()
    assert 'modelport_batch_delay_microseconds{model="tuned",version="1"} 1500.0' in metrics
    assert 'modelport_batch_max_rows{model="tuned",version="1"} 24.0' in metrics
    for bad in ("-1", "soon", "[5]"):
        with pytest.raises(ConfigError, match="latency_slo_ms"):
            parse_model_config(f"dynamic_batching: {{latency_slo_ms: {bad}}}", "config.yaml")
