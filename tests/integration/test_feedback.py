"""Feedback: labels sent later for an earlier prediction (by its request id) join it in the
model's request log; live accuracy (or MSE) in /metrics equals scikit-learn's on the joined
rows; unknown ids are kept for joining offline; a model without a log says how to add one."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import numpy as np
import pytest
from onnx import TensorProto

from modelport.client import Client
from modelport.errors import InvalidInput
from modelport.server import Server
from modelport.settings import Settings
from tests import models


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """``scores`` answers its input as class scores and logs every request; ``plain`` logs none."""
    repo, sink = tmp_path / "repo", tmp_path / "records"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    (repo / "scores" / "config.yaml").write_text(f"logging: {{sink: {sink}}}\n")
    models.identity(repo / "plain" / "1" / "model.onnx", TensorProto.FLOAT)
    server = Server(Settings(model_repositories=(str(repo),), http_port=0, allow_grpc=False))
    await server.start()
    yield f"127.0.0.1:{server.http_port}", sink
    await server.stop()


def _metric(text: str, name: str) -> float:
    found = re.search(rf'^{name}{{model="scores",version="1"}} (\S+)$', text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


async def test_late_labels_give_live_accuracy_equal_to_sklearns(served) -> None:
    from sklearn.metrics import accuracy_score

    url, _ = served
    rng = np.random.default_rng(0)
    predicted: list[int] = []
    actual: list[int] = []

    def send() -> None:  # the client blocks: off the loop that serves
        with Client(url) as client:
            for i in range(30):
                rows = rng.random((3, 4), dtype=np.float32)
                client.infer("scores", {"input": rows}, request_id=f"p-{i}")
                truth = [int(c) for c in rng.integers(0, 4, 3)]
                predicted.extend(int(c) for c in np.argmax(rows, axis=1))
                actual.extend(truth)
                assert client.feedback("scores", f"p-{i}", truth) is True
            assert client.feedback("scores", "never-seen", [1]) is False  # joined offline

    await asyncio.to_thread(send)
    async with httpx2.AsyncClient(base_url=f"http://{url}") as http:
        metrics = (await http.get("/metrics")).text
    assert _metric(metrics, "modelport_live_accuracy") == pytest.approx(
        accuracy_score(actual, predicted)
    )
    assert _metric(metrics, "modelport_live_labels_total") == 90


async def test_labels_are_written_beside_the_predictions(tmp_path: Path) -> None:
    repo, sink = tmp_path / "repo", tmp_path / "records"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    (repo / "scores" / "config.yaml").write_text(f"logging: {{sink: {sink}}}\n")
    server = Server(Settings(model_repositories=(str(repo),), http_port=0, allow_grpc=False))
    await server.start()

    def send() -> None:
        with Client(f"127.0.0.1:{server.http_port}") as client:
            client.infer("scores", {"input": np.eye(2, 4, dtype=np.float32)}, request_id="r-1")
            client.feedback("scores", "r-1", [0, 3])
            client.feedback("scores", "unknown-9", [2])

    await asyncio.to_thread(send)
    await server.stop()  # writes what is queued
    records = [json.loads(x) for f in sink.rglob("*.jsonl") for x in f.read_text().splitlines()]
    by_kind = {(r["kind"], r["request_id"]): r for r in records}
    assert by_kind["request", "r-1"]["outputs"]["output"]["data"] == np.eye(2, 4).tolist()
    assert by_kind["label", "r-1"]["labels"] == [0, 3]
    assert by_kind["label", "unknown-9"]["labels"] == [2]


async def test_float_labels_give_the_live_mean_squared_error(served) -> None:
    url, _ = served

    def send() -> None:  # the client blocks: off the loop that serves
        with Client(url) as client:
            for i, value in enumerate((0.25, 1.0)):
                x = np.full((1, 1), value, np.float32)
                client.infer("scores", {"input": x}, request_id=f"v-{i}")
                client.feedback("scores", f"v-{i}", [0.75])

    await asyncio.to_thread(send)
    async with httpx2.AsyncClient(base_url=f"http://{url}") as http:
        metrics = (await http.get("/metrics")).text
    assert _metric(metrics, "modelport_live_mse") == pytest.approx((0.5**2 + 0.25**2) / 2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"label": 1}, "needs 'id'"),
        ({"id": "a", "label": 1, "labels": [1]}, "one of 'label'"),
        ({"id": "a", "labels": []}, "1 to"),
        ({"id": "a", "labels": [[1]]}, "number, a string or a boolean"),
        ({"id": "a", "label": 1, "extra": 2}, "feedback is"),
        ([1, 2], "feedback is"),
    ],
)
async def test_bad_feedback_is_refused_with_what_to_send(served, body, message: str) -> None:
    url, _ = served
    async with httpx2.AsyncClient(base_url=f"http://{url}") as http:
        answer = await http.post("/v2/models/scores/feedback", json=body)
    assert answer.status_code == 400 and message in answer.json()["error"]


async def test_a_model_without_a_request_log_says_how_to_add_one(served) -> None:
    url, _ = served

    def send() -> None:
        with Client(url) as client, pytest.raises(InvalidInput, match="add a `logging:` block"):
            client.feedback("plain", "a", [1])

    await asyncio.to_thread(send)
    async with httpx2.AsyncClient(base_url=f"http://{url}") as http:
        missing = await http.post("/v2/models/nope/feedback", json={"id": "a", "label": 1})
    assert missing.status_code == 404


async def test_evaluate_from_log_scores_the_joined_predictions(tmp_path: Path) -> None:
    """`modelport evaluate MODEL --from-log SINK`: the same report keys as a data-set run,
    over what the model answered and the labels that came back, per version too."""
    from sklearn.metrics import accuracy_score

    from modelport.cli import main

    repo, sink, out = tmp_path / "repo", tmp_path / "records", tmp_path / "report"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    (repo / "scores" / "config.yaml").write_text(f"logging: {{sink: {sink}}}\n")
    server = Server(Settings(model_repositories=(str(repo),), http_port=0, allow_grpc=False))
    await server.start()
    rng = np.random.default_rng(1)
    predicted: list[int] = []
    actual: list[int] = []

    def send() -> None:
        with Client(f"127.0.0.1:{server.http_port}") as client:
            for i in range(20):
                rows = rng.random((3, 4), dtype=np.float32)
                client.infer("scores", {"input": rows}, request_id=f"e-{i}")
                if i % 4 == 3:
                    continue  # no label came back for these
                truth = [int(c) for c in rng.integers(0, 4, 3)]
                predicted.extend(int(c) for c in np.argmax(rows, axis=1))
                actual.extend(truth)
                client.feedback("scores", f"e-{i}", truth)

    await asyncio.to_thread(send)
    await server.stop()
    assert main(["evaluate", "scores", "--from-log", str(sink), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == len(actual) == 45
    assert report["accuracy"] == pytest.approx(accuracy_score(actual, predicted))
    assert report["versions"]["1"]["samples"] == 45 and "confusion_matrix" in report


async def test_feedback_goes_through_the_access_policy_as_inference(tmp_path: Path) -> None:
    """Giving labels writes to the model's log: it needs a key with the infer scope."""
    repo, keys = tmp_path / "repo", tmp_path / "keys.yaml"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    (repo / "scores" / "config.yaml").write_text(f"logging: {{sink: {tmp_path / 'records'}}}\n")
    keys.write_text(
        "- {name: reader, key: a-key-that-only-reads, scopes: [read]}\n"
        "- {name: caller, key: a-key-that-may-infer, scopes: [infer]}\n"
    )
    server = Server(Settings(model_repositories=(str(repo),), api_keys=str(keys)))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    body = {"id": "k-1", "label": 1}
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as http:

        async def status(key: str) -> int:
            headers = {"authorization": f"Bearer {key}"} if key else {}
            answer = await http.post("/v2/models/scores/feedback", json=body, headers=headers)
            return answer.status_code

        assert await status("") == 401
        assert await status("a-key-that-only-reads") == 403
        assert await status("a-key-that-may-infer") == 200
    await server.stop()


@pytest.fixture
async def served_grpc(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """``scores`` logs every request; ``plain`` logs none; (REST, gRPC) addresses."""
    repo, sink = tmp_path / "repo", tmp_path / "records"
    models.identity(repo / "scores" / "1" / "model.onnx", TensorProto.FLOAT)
    (repo / "scores" / "config.yaml").write_text(f"logging: {{sink: {sink}}}\n")
    models.identity(repo / "plain" / "1" / "model.onnx", TensorProto.FLOAT)
    server = Server(Settings(model_repositories=(str(repo),), http_port=0, grpc_port=0))
    await server.start()
    yield f"127.0.0.1:{server.http_port}", f"127.0.0.1:{server.grpc_port}"
    await server.stop()


async def test_feedback_over_grpc_joins_like_rest(served_grpc) -> None:
    rest, grpc_address = served_grpc

    def send() -> None:
        with Client(grpc_address, protocol="grpc") as client:
            rows = np.eye(3, 4, dtype=np.float32)  # predicts classes 0, 1, 2
            client.infer("scores", {"input": rows}, request_id="g-1")
            assert client.feedback("scores", "g-1", [np.int64(0), 1, 3]) is True
            assert client.feedback("scores", "g-2", ["fraud", True, 2.5]) is False

    await asyncio.to_thread(send)
    async with httpx2.AsyncClient(base_url=f"http://{rest}") as http:
        metrics = (await http.get("/metrics")).text
    assert _metric(metrics, "modelport_live_accuracy") == pytest.approx(2 / 3)
    assert _metric(metrics, "modelport_live_labels_total") == 3


async def test_bad_grpc_feedback_gets_the_status_rest_gets(served_grpc) -> None:
    import grpc

    from modelport.errors import ModelNotFound
    from modelport.protocol._generated import feedback_pb2 as fb
    from modelport.protocol._generated import feedback_pb2_grpc as fb_grpc

    _, grpc_address = served_grpc

    def send() -> None:
        with Client(grpc_address, protocol="grpc") as client:
            with pytest.raises(InvalidInput, match="add a `logging:` block"):
                client.feedback("plain", "a", [1])
            with pytest.raises(ModelNotFound):
                client.feedback("nope", "a", [1])
            with pytest.raises(InvalidInput, match="1 to"):
                client.feedback("scores", "a", [])
            with pytest.raises(InvalidInput, match="needs 'id'"):
                client.feedback("scores", "", [1])
            with pytest.raises(InvalidInput, match="number, a string or a boolean"):
                client.feedback("scores", "a", [[1]])
        with grpc.insecure_channel(grpc_address) as channel:
            stub = fb_grpc.FeedbackStub(channel)
            empty = fb.ModelFeedbackRequest(model_name="scores", id="a", labels=[fb.Label()])
            with pytest.raises(grpc.RpcError) as refused:
                stub.ModelFeedback(empty, timeout=10)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "sets one value" in refused.value.details()

    await asyncio.to_thread(send)


async def test_two_class_scores_give_the_live_roc_auc_sklearn_gives(served) -> None:
    from sklearn.metrics import roc_auc_score

    url, _ = served
    rng = np.random.default_rng(4)
    scores: list[float] = []
    actual: list[int] = []

    def send() -> None:
        with Client(url) as client:
            for i in range(40):
                rows = np.round(rng.random((5, 2)), 2).astype(np.float32)  # ties included
                client.infer("scores", {"input": rows}, request_id=f"a-{i}")
                truth = [int(c) for c in rng.integers(0, 2, 5)]
                client.feedback("scores", f"a-{i}", truth)
                scores.extend(float(v) for v in rows[:, 1])
                actual.extend(truth)

    await asyncio.to_thread(send)
    async with httpx2.AsyncClient(base_url=f"http://{url}") as http:
        metrics = (await http.get("/metrics")).text
    assert _metric(metrics, "modelport_live_roc_auc") == pytest.approx(
        roc_auc_score(actual, scores)
    )
