"""Every runtime, one suite: the same requests over V2 REST, V2 gRPC, TF Serving REST and
``/predict`` give the framework's own answer; metadata is right; bad input is a 4xx.

One server serves a model per runtime (``frameworks.py``); a framework that is not installed
skips its case with the reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx2
import numpy as np
import pytest

from modelport.grpc.server import GrpcServer
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.server import Server
from modelport.settings import Settings
from tests.runtimes.frameworks import CASES, Answer, Case, iris

BY_NAME = {case.name: case for case in CASES}
ROWS = slice(0, 150, 17)  # 9 rows across the three iris classes


@dataclass
class Served:
    client: httpx2.AsyncClient
    stub: pb_grpc.GRPCInferenceServiceStub
    answers: dict[str, Answer]
    x: np.ndarray


def _installed(case: Case) -> bool:
    return importlib.util.find_spec(case.framework) is not None


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    root = tmp_path_factory.mktemp("conformance")
    answers = {case.name: case.build(root / case.name) for case in CASES if _installed(case)}
    server = Server(Settings(model_repositories=(str(root),)))
    await server.load_models()
    grpc_server = GrpcServer(server.dataplane, max_message_bytes=1 << 20)
    port = await grpc_server.start("127.0.0.1", 0)
    transport = httpx2.ASGITransport(app=server.build_app())
    async with (
        httpx2.AsyncClient(transport=transport, base_url="http://modelport") as client,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        yield Served(client, stub, answers, iris()[0][ROWS])
    await grpc_server.stop(1)
    await server.stop()


@pytest.fixture(params=[case.name for case in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    found = BY_NAME[request.param]
    if not _installed(found):
        pytest.skip(f"{found.framework} is not installed (its extra is optional)")
    return found


def assert_same(served: np.ndarray, expected: np.ndarray) -> None:
    expected = np.asarray(expected)
    assert served.shape == expected.shape
    if expected.dtype.kind in "iub":
        assert np.array_equal(served, expected)
    else:
        np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)


def v2_body(name: str, x: np.ndarray, datatype: str = "FP32") -> dict[str, object]:
    tensor = {
        "name": name,
        "datatype": datatype,
        "shape": list(x.shape),
        "data": x.ravel().tolist(),
    }
    return {"inputs": [tensor]}


async def test_the_model_is_ready_with_the_right_metadata(served: Served, case: Case) -> None:
    response = await served.client.get(f"/v2/models/{case.name}")
    assert response.status_code == 200, response.text
    meta = response.json()
    assert [(i["name"], i["datatype"], i["shape"][1:]) for i in meta["inputs"]] == [
        (case.input_name, "FP32", [4])
    ]
    assert tuple(o["name"] for o in meta["outputs"]) == case.output_names
    assert (await served.client.get(f"/v2/models/{case.name}/ready")).status_code == 200


async def test_v2_rest_gives_the_framework_answer(served: Served, case: Case) -> None:
    response = await served.client.post(
        f"/v2/models/{case.name}/infer", json=v2_body(case.input_name, served.x)
    )
    assert response.status_code == 200, response.text
    expected = served.answers[case.name](served.x)
    for output in response.json()["outputs"]:
        data = np.array(output["data"]).reshape(output["shape"])
        assert_same(data, expected[output["name"]])


async def test_v2_grpc_gives_the_framework_answer(served: Served, case: Case) -> None:
    request = pb.ModelInferRequest(model_name=case.name)
    request.inputs.add(name=case.input_name, datatype="FP32", shape=served.x.shape)
    request.raw_input_contents.append(served.x.tobytes())
    response = await served.stub.ModelInfer(request)
    expected = served.answers[case.name](served.x)
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        dtype = {"FP32": np.float32, "INT64": np.int64}[output.datatype]
        assert_same(np.frombuffer(raw, dtype).reshape(output.shape), expected[output.name])


async def test_tf_serving_predict_gives_the_framework_answer(served: Served, case: Case) -> None:
    body = {"inputs": {case.input_name: served.x.tolist()}}
    response = await served.client.post(f"/v1/models/{case.name}:predict", json=body)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    named = outputs if isinstance(outputs, dict) else {case.output_names[0]: outputs}
    expected = served.answers[case.name](served.x)
    for name, value in named.items():
        assert_same(np.array(value), expected[name])


async def test_plain_predict_gives_the_framework_answer(served: Served, case: Case) -> None:
    response = await served.client.post(
        f"/models/{case.name}/predict", json={"input": served.x.tolist()}
    )
    assert response.status_code == 200, response.text
    output = response.json()["output"]  # one output as it is; several by name
    named = output if len(case.output_names) > 1 else {case.output_names[0]: output}
    expected = served.answers[case.name](served.x)
    for name in case.output_names:
        assert_same(np.array(named[name]), expected[name])


@pytest.mark.parametrize(
    ("x", "datatype", "message"),
    [
        (np.zeros((2, 5), np.float32), "FP32", "shape"),
        (np.ones((2, 4), np.int32), "INT32", "FP32"),
        (np.zeros((4,), np.float32), "FP32", "shape"),
    ],
    ids=["wrong-width", "wrong-datatype", "no-batch-dimension"],
)
async def test_bad_input_is_a_4xx_and_the_model_keeps_serving(
    served: Served, case: Case, x: np.ndarray, datatype: str, message: str
) -> None:
    url = f"/v2/models/{case.name}/infer"
    response = await served.client.post(url, json=v2_body(case.input_name, x, datatype))
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    good = await served.client.post(url, json=v2_body(case.input_name, served.x))
    assert good.status_code == 200


async def test_bad_input_over_grpc_is_invalid_argument(served: Served, case: Case) -> None:
    request = pb.ModelInferRequest(model_name=case.name)
    request.inputs.add(name=case.input_name, datatype="FP32", shape=[1, 5])
    request.raw_input_contents.append(np.zeros(5, np.float32).tobytes())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.stub.ModelInfer(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_every_runtime_has_a_case() -> None:
    from modelport.runtimes import RUNTIMES

    covered = {"onnx", "python", "sklearn", "pytorch", "tensorflow", "xgboost", "lightgbm"}
    assert set(RUNTIMES) == covered
    assert Path(__file__).with_name("frameworks.py").exists()
