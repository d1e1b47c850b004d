"""NVIDIA's tritonclient.grpc (sync, asyncio, streaming) against `modelport serve`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import RunningServer

# Never imported here: tritonclient.grpc's descriptors clash with modelport's in one process.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        importlib.util.find_spec("tritonclient.grpc") is None, reason="tritonclient[grpc] missing"
    ),
]

CHECK = Path(__file__).with_name("tritonclient_grpc_check.py")


def test_tritonclient_grpc_sync_aio_and_streaming(digits_server: RunningServer) -> None:
    run = subprocess.run(
        [sys.executable, str(CHECK), digits_server.grpc_url],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["live"] and report["ready"]
    assert report["metadata_inputs"] == [
        {"name": "input", "datatype": "FP32", "shape": ["-1", "784"]}
    ]
    assert report["config_max_batch"] == 1024
    assert report["sync_accuracy"] >= 0.9 and report["sync_id"] == "s1"
    assert report["bad_shape"]["status"] == "StatusCode.INVALID_ARGUMENT"
    assert "expected shape [-1, 784], got [32, 700]" in report["bad_shape"]["message"]
    assert report["stats_count"] >= 1
    assert report["index"] == ["digits"]
    assert report["aio_answers"] == 8 and report["aio_accuracy"] >= 0.9
    assert report["stream_answers"] == 32 and report["stream_errors"] == []
    assert report["stream_correct"] >= 29


def test_same_numbers_over_every_protocol(digits_server: RunningServer) -> None:
    """HTTP JSON, HTTP binary, /predict and gRPC give the very same probabilities."""
    import tritonclient.http as httpclient

    from modelport.datasets import load_digits_28x28

    x = load_digits_28x28()[0][:4]
    client = httpclient.InferenceServerClient(digits_server.url)
    results = []
    for binary in (True, False):
        tensor = httpclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        results.append(client.infer("digits", [tensor]).as_numpy("probabilities"))
    script = (
        "import sys, json, numpy as np, tritonclient.grpc as g\n"
        "x = np.array(json.loads(sys.stdin.read()), np.float32)\n"
        f"c = g.InferenceServerClient('{digits_server.grpc_url}')\n"
        "i = g.InferInput('input', list(x.shape), 'FP32'); i.set_data_from_numpy(x)\n"
        "print(json.dumps(c.infer('digits', [i]).as_numpy('probabilities').tolist()))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(x.tolist()),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results.append(np.array(json.loads(run.stdout), np.float32))
    for other in results[1:]:
        assert np.array_equal(results[0], other)
