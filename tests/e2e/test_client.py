"""``modelport.Client`` against a running server, over REST JSON, REST binary, gRPC and TF
Serving's REST predict."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from modelport.client import Client
from modelport.datasets import load_digits_28x28
from modelport.errors import InvalidInput, ModelNotFound
from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e


def clients(server: RunningServer) -> list[Client]:
    return [
        Client(server.url, binary=False),
        Client(f"http://{server.url}", binary=True),
        Client(server.grpc_url, protocol="grpc"),
        Client(server.url, protocol="tfserving"),
    ]


def test_same_answers_over_every_protocol(digits_server: RunningServer) -> None:
    x, y = load_digits_28x28()
    answers = []
    for client in clients(digits_server):
        with client:
            assert client.ready()
            assert client.metadata("digits").inputs[0].shape == (-1, 784)
            answers.append(client.predict("digits", x[:50].astype(np.float64)))
    assert answers[0].shape == (50, 10)
    assert np.mean(answers[0].argmax(axis=1) == y[:50]) >= 0.9
    for other in answers[1:]:
        assert np.array_equal(answers[0], other)


def test_errors_come_back_as_modelport_errors(digits_server: RunningServer) -> None:
    for client in clients(digits_server):
        with client:
            with pytest.raises(ModelNotFound, match="unknown model 'nope'"):
                client.infer("nope", {"input": np.zeros((1, 784), np.float32)})
            with pytest.raises(InvalidInput, match=r"expected shape \[-1, 784\]"):
                client.infer("digits", {"input": np.zeros((1, 3), np.float32)})


def test_modelport_and_tritonclient_grpc_share_a_process() -> None:
    code = "import modelport, tritonclient.grpc; from modelport.client import Client; print('ok')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "ok", run.stderr
