"""The clouds' container contracts: ``modelport serve`` started with each platform's
environment and arguments, sent each platform's requests (SageMaker, Vertex AI, Azure ML)."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from modelport.datasets import load_digits_28x28
from tests.e2e.conftest import RunningServer, start_server

pytestmark = pytest.mark.e2e
LOOPBACK = {"MODELPORT_HOST": "127.0.0.1"}  # the platforms bind 0.0.0.0; tests stay on loopback


@pytest.fixture(scope="module")
def unpacked_model(digits_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model.tar.gz as SageMaker unpacks it: the model file at the top of the folder."""
    folder = tmp_path_factory.mktemp("opt-ml-model")
    shutil.copy(digits_repository / "digits" / "1" / "model.onnx", folder / "model.onnx")
    return folder


def post(server: RunningServer, path: str, body: object, **headers: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:  # an error answer holds its connection until closed
            return exc.code, json.loads(exc.read())


def get(server: RunningServer, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://{server.url}{path}", timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@pytest.fixture(scope="module")
def rows() -> tuple[list[list[float]], np.ndarray]:
    x, y = load_digits_28x28()
    return x[:3].tolist(), y[:3]


def test_sagemaker(
    unpacked_model: Path, tmp_path: Path, rows: tuple[list[list[float]], np.ndarray]
) -> None:
    env = {"SAGEMAKER_BIND_TO_PORT": "0", "SM_MODEL_DIR": str(unpacked_model), **LOOPBACK}
    server = start_server(["--grpc-port", "0"], tmp_path, env)  # SageMaker passes just `serve`
    x, y = rows
    assert get(server, "/ping") == 200
    status, answer = post(server, "/invocations", {"instances": x})
    assert status == 200 and np.argmax(answer["predictions"], axis=1).tolist() == y.tolist()
    status, answer = post(server, "/invocations", {"input": x}, **{
        "X-Amzn-SageMaker-Custom-Attributes": "trace=1",
    })  # fmt: skip
    assert status == 200 and np.array(answer["output"]).shape == (3, 10)
    v2 = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [3, 784], "data": x}]}
    status, answer = post(server, "/invocations", v2)
    assert status == 200 and answer["outputs"][0]["shape"] == [3, 10]
    target = {"X-Amzn-SageMaker-Target-Model": "model.tar.gz"}  # a multi-model endpoint's header
    assert post(server, "/invocations", {"instances": x}, **target)[0] == 200
    status, answer = post(server, "/invocations", {"instances": x}, **{
        "X-Amzn-SageMaker-Target-Model": "nope.tar.gz",
    })  # fmt: skip
    assert status == 404 and "nope" in answer["error"]
    status, answer = post(server, "/invocations", {"neither": 1})
    assert status == 400 and "expected a V2 body" in answer["error"]
    code, output = server.stop()
    assert code == 0 and "model model version 1: READY" in output


def test_vertex_ai(
    digits_repository: Path, tmp_path: Path, rows: tuple[list[list[float]], np.ndarray]
) -> None:
    route = "/v1/endpoints/123/deployedModels/456:predict"
    env = {
        "AIP_HTTP_PORT": "0",
        "AIP_PREDICT_ROUTE": route,
        "AIP_HEALTH_ROUTE": "/v1/endpoints/123/deployedModels/456",
        "AIP_STORAGE_URI": str(digits_repository),
        "AIP_DEPLOYED_MODEL_ID": "456",
        **LOOPBACK,
    }
    # the image's own command names /models, which Vertex AI does not mount
    server = start_server(["/models", "--grpc-port", "0"], tmp_path, env)
    x, y = rows
    assert get(server, "/v1/endpoints/123/deployedModels/456") == 200
    status, answer = post(server, route, {"instances": x, "parameters": {"confidence": 0.5}})
    assert status == 200 and answer["deployedModelId"] == "456"
    assert np.argmax(answer["predictions"], axis=1).tolist() == y.tolist()
    status, answer = post(server, route, {"inputs": x})
    assert status == 400 and "instances" in answer["error"]
    assert server.stop()[0] == 0


def test_azure_ml(
    digits_repository: Path, tmp_path: Path, rows: tuple[list[list[float]], np.ndarray]
) -> None:
    model_dir = digits_repository / "digits"  # AZUREML_MODEL_DIR: the registered model's files
    env = {"AZUREML_MODEL_DIR": str(model_dir), "MODELPORT_HTTP_PORT": "0", **LOOPBACK}
    server = start_server(["--grpc-port", "0"], tmp_path, env)
    x, y = rows
    assert get(server, "/v2/health/live") == 200 and get(server, "/v2/health/ready") == 200
    status, answer = post(server, "/score", {"data": x})
    assert status == 200 and np.argmax(answer["output"], axis=1).tolist() == y.tolist()
    assert server.stop()[0] == 0


def test_sagemaker_multi_model_endpoint(
    unpacked_model: Path, tmp_path: Path, rows: tuple[list[list[float]], np.ndarray]
) -> None:
    root = tmp_path / "opt-ml-models"
    shutil.copytree(unpacked_model, root / "abc123" / "model")  # where SageMaker unpacks one
    env = {
        "SAGEMAKER_BIND_TO_PORT": "0",
        "SAGEMAKER_MULTI_MODEL": "true",
        "MODELPORT_MULTI_MODEL_ROOT": str(root),  # /opt/ml/models on SageMaker
        **LOOPBACK,
    }
    server = start_server(["--grpc-port", "0"], tmp_path, env)  # no model until one is loaded
    x, y = rows
    url = str(root / "abc123" / "model")
    assert get(server, "/ping") == 200
    assert post(server, "/models", {"model_name": "digits", "url": url})[0] == 200
    assert post(server, "/models", {"model_name": "digits", "url": url})[0] == 409
    status, answer = post(server, "/models", {"model_name": "evil", "url": "/etc"})
    assert status == 400 and "inside the multi-model root" in answer["error"]
    with urllib.request.urlopen(f"http://{server.url}/models", timeout=10) as listing:
        assert json.loads(listing.read()) == {"models": [{"modelName": "digits", "modelUrl": url}]}
    status, answer = post(server, "/models/digits/invoke", {"instances": x})
    assert status == 200 and np.argmax(answer["predictions"], axis=1).tolist() == y.tolist()
    header = {"X-Amzn-SageMaker-Target-Model": "digits"}
    assert post(server, "/invocations", {"instances": x}, **header)[0] == 200
    delete = urllib.request.Request(f"http://{server.url}/models/digits", method="DELETE")
    with urllib.request.urlopen(delete, timeout=10) as answer_:
        assert answer_.status == 200
    assert post(server, "/models/digits/invoke", {"instances": x})[0] in (404, 503)
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(delete, timeout=10)
    gone.value.close()
    assert gone.value.code == 404
    assert server.stop()[0] == 0
