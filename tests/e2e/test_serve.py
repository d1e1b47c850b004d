"""``modelport serve`` as a real process, driven by NVIDIA's unmodified tritonclient and curl."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelport import __version__
from modelport.datasets import load_digits_28x28
from tests.e2e.conftest import RunningServer, serve_args, start_server

pytestmark = pytest.mark.e2e
httpclient = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits_28x28()
    return x[:64], y[:64]


def test_tritonclient_metadata_and_health(digits_server: RunningServer) -> None:
    client = httpclient.InferenceServerClient(digits_server.url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("digits")
    metadata = client.get_model_metadata("digits")
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 784]}]
    assert client.get_server_metadata()["version"] == __version__
    assert client.get_model_repository_index()[0]["state"] == "READY"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_infer(
    digits_server: RunningServer, digits: tuple[np.ndarray, np.ndarray], binary: bool
) -> None:
    x, y = digits
    client = httpclient.InferenceServerClient(digits_server.url)
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    output = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
    result = client.infer("digits", [tensor], outputs=[output], request_id="r1")
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (64, 10)
    assert result.get_response()["id"] == "r1"
    assert np.mean(probabilities.argmax(axis=1) == y) >= 0.9


def test_tritonclient_default_outputs_and_compression(
    digits_server: RunningServer, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = digits
    client = httpclient.InferenceServerClient(digits_server.url)
    tensor = httpclient.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    plain = client.infer("digits", [tensor]).as_numpy("probabilities")
    packed = client.infer("digits", [tensor], request_compression_algorithm="gzip")
    assert np.array_equal(plain, packed.as_numpy("probabilities"))


def test_tritonclient_sees_clear_errors(digits_server: RunningServer) -> None:
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(digits_server.url)
    tensor = httpclient.InferInput("input", [1, 783], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 783), np.float32))
    with pytest.raises(InferenceServerException, match=r"expected shape \[-1, 784\]"):
        client.infer("digits", [tensor])
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        client.get_model_metadata("nope")
    assert client.is_server_live()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_predict(digits_server: RunningServer, digits: tuple[np.ndarray, np.ndarray]) -> None:
    x, _y = digits
    body = json.dumps({"input": x[:2].tolist()})
    out = subprocess.run(
        ["curl", "-s", f"http://{digits_server.url}/predict", "-d", body],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    output = np.array(json.loads(out.stdout)["output"])
    assert output.shape == (2, 10)
    bad = subprocess.run(
        ["curl", "-s", "-w", "%{http_code}", f"http://{digits_server.url}/predict", "-d", "{oops"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert bad.stdout.endswith("400") and "malformed JSON" in bad.stdout


def test_sigterm_drains_and_exits_zero(digits_repository: Path, tmp_path: Path) -> None:
    model = digits_repository / "digits" / "1" / "model.onnx"
    server = start_server([str(model), "--http-port", "0", "--grpc-port", "0"], tmp_path)
    client = httpclient.InferenceServerClient(server.url)
    assert client.get_model_metadata("model")["name"] == "model"
    code, output = server.stop()
    assert code == 0, output
    assert "model model version 1: READY" in output
    assert "HTTP listening on http://127.0.0.1:" in output


def test_threads_follow_the_cpus_the_process_may_use(
    digits_repository: Path, tmp_path: Path
) -> None:
    """Pinned to one core (as a pod with a 1-CPU limit), the runtimes get one thread each."""
    if shutil.which("taskset") is None:
        pytest.skip("taskset is not installed")
    pinned = start_server(serve_args(digits_repository), tmp_path, prefix=("taskset", "-c", "0"))
    assert httpclient.InferenceServerClient(pinned.url).is_model_ready("digits")
    code, output = pinned.stop()
    assert code == 0 and "runtime threads per model: 1 (1 usable CPUs" in output
    flagged = start_server(serve_args(digits_repository, "--intra-op-threads", "3"), tmp_path)
    assert "runtime threads per model: 3 (" in flagged.stop()[1]


def test_environment_settings(digits_repository: Path, tmp_path: Path) -> None:
    env = {
        "MODELPORT_MODEL_REPOSITORIES": str(digits_repository),
        "MODELPORT_HTTP_PORT": "0",
        "MODELPORT_GRPC_PORT": "0",
    }
    server = start_server([], tmp_path, env)
    assert httpclient.InferenceServerClient(server.url).is_model_ready("digits")
    assert server.stop()[0] == 0


def test_version_and_usage_errors() -> None:
    run = [sys.executable, "-m", "modelport"]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.strip() == f"modelport {__version__}"
    missing = subprocess.run([*run, "serve"], capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and "no models" in missing.stderr
