"""Every worked example trains in seconds, writes its framework's native artifact into the
repository layout, scores what it promises on held-out data, and serves: the served model's
answers over the data set score like the trained one (evaluated through the server)."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest

from modelport import evaluate, examples
from modelport.datasets import Dataset, load_dataset
from modelport.server import Server
from modelport.settings import Settings

pytestmark = pytest.mark.slow

# example → (framework module, artifact it writes, held-out score name, floor)
EXPECTED = {
    "mnist-keras": ("keras", "mnist-keras/1/model.keras", "accuracy", 0.95),
    "mnist-torch": ("torch", "mnist-torch/1/model.pt2", "accuracy", 0.93),
    "fraud": ("xgboost", "fraud/1/model.json", "roc_auc", 0.75),
    "recommender": ("torch", "recommender/1/model.pt2", "hit_rate_at_10", 0.5),
    "regression": ("sklearn", "regression/1/model.onnx", "r2", 0.3),
    "diagnosis": ("skops", "diagnosis/1/model.skops", "accuracy", 0.92),
}


@dataclass
class Trained:
    root: Path
    results: dict[str, dict[str, Any]]
    client: httpx2.AsyncClient


def _available(example: str) -> bool:
    return importlib.util.find_spec(EXPECTED[example][0]) is not None


@pytest.fixture(scope="module")
async def trained(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Trained]:
    root = tmp_path_factory.mktemp("examples")
    results = {name: examples.build(name, root) for name in EXPECTED if _available(name)}
    server = Server(Settings(model_repositories=(str(root),)))
    await server.load_models()
    transport = httpx2.ASGITransport(app=server.build_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://modelport") as client:
        yield Trained(root, results, client)
    await server.stop()


@pytest.fixture(params=sorted(EXPECTED))
def example(request: pytest.FixtureRequest) -> str:
    if not _available(request.param):
        pytest.skip(f"{EXPECTED[request.param][0]} is not installed")
    return str(request.param)


def test_every_example_is_listed() -> None:
    # digits: the demo's own tests; fraud-drift serves itself (test_fraud_drift.py)
    assert set(examples.EXAMPLES) == {*EXPECTED, "digits", "fraud-drift"}


async def test_trains_writes_its_artifact_and_scores(trained: Trained, example: str) -> None:
    _, artifact, metric, floor = EXPECTED[example]
    assert (trained.root / artifact).exists()
    result = trained.results[example]
    scores = result.get("scores") or {"accuracy": result["accuracy"]}
    assert scores[metric] >= floor
    assert result["train_seconds"] > 0  # reported; how long it takes is benchmarks' business


async def test_serves_ready(trained: Trained, example: str) -> None:
    model = EXPECTED[example][1].split("/")[0]
    response = await trained.client.get(f"/v2/models/{model}/ready")
    assert response.status_code == 200


async def served_outputs(client: httpx2.AsyncClient, model: str, x: np.ndarray) -> np.ndarray:
    """The model's first output for every row, in batches of 500."""
    meta = (await client.get(f"/v2/models/{model}")).json()
    parts = [await _batch(client, model, meta, x[i : i + 500]) for i in range(0, len(x), 500)]
    return np.concatenate(parts)


async def _batch(client: httpx2.AsyncClient, model: str, meta: Any, x: np.ndarray) -> np.ndarray:
    spec = meta["inputs"][0]
    rows = x.reshape(len(x), *spec["shape"][1:]) if -1 not in spec["shape"][1:] else x
    body = {
        "inputs": [{**spec, "shape": list(rows.shape), "data": rows.ravel().tolist()}],
        "outputs": [{"name": meta["outputs"][0]["name"]}],
    }
    response = await client.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 200, response.text
    output = response.json()["outputs"][0]
    return np.array(output["data"]).reshape(output["shape"])


@pytest.mark.parametrize(
    ("model", "dataset", "metric", "floor"),
    [
        ("mnist-keras", "digits", "accuracy", 0.95),
        ("mnist-keras-savedmodel", "digits", "accuracy", 0.95),
        ("mnist-torch", "digits", "accuracy", 0.95),
        ("mnist-torchscript", "digits", "accuracy", 0.95),
        ("fraud", "fraud", "roc_auc", 0.8),
        ("regression", "diabetes", "r2", 0.45),
        ("diagnosis", "breast_cancer", "accuracy", 0.95),
    ],
)
async def test_evaluates_through_the_server(
    trained: Trained, model: str, dataset: str, metric: str, floor: float
) -> None:
    if not (trained.root / model).exists():
        pytest.skip(f"the example that writes {model} needs a framework that is not installed")
    data: Dataset = load_dataset(dataset)
    outputs = await served_outputs(trained.client, model, data.x)
    report = evaluate.score(data, outputs, [1.0])
    assert report[metric] >= floor


async def test_the_recommender_answers_top_k_unseen_items(trained: Trained) -> None:
    if "recommender" not in trained.results:
        pytest.skip("torch is not installed")
    body = {"inputs": [{"name": "user", "datatype": "INT64", "shape": [3], "data": [0, 1, 10_000]}]}
    response = await trained.client.post("/v2/models/recommender/infer", json=body)
    outputs = {
        o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in response.json()["outputs"]
    }
    assert outputs["items"].shape == (3, 10)
    assert all(len(set(row)) == 10 for row in outputs["items"])  # no item twice
    assert np.all(np.diff(outputs["scores"], axis=1) <= 0)  # best first
    from modelport.examples.recommender import interactions

    bought = {int(item) for user, item in interactions() if user == 0}
    held_out_at_most_one = len(bought & set(outputs["items"][0].tolist()))
    assert held_out_at_most_one <= 1  # only the held-out purchase may be recommended back


async def test_the_recommender_scores_its_hit_rate_through_the_server(trained: Trained) -> None:
    if "recommender" not in trained.results:
        pytest.skip("torch is not installed")
    from modelport.examples import recommender

    _, held_out = recommender._leave_one_out(recommender.interactions(0), np.random.default_rng(0))
    users = np.arange(recommender.USERS)
    body = {
        "inputs": [
            {"name": "user", "datatype": "INT64", "shape": [len(users)], "data": users.tolist()}
        ],
        "outputs": [{"name": "items"}],
    }
    response = await trained.client.post("/v2/models/recommender/infer", json=body)
    output = response.json()["outputs"][0]
    served = np.array(output["data"]).reshape(output["shape"])
    expected = trained.results["recommender"]["scores"]["hit_rate_at_10"]
    assert recommender.hit_rate(served, held_out) == expected
