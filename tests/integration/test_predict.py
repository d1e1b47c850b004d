"""The plain API: POST /predict {"input": ...} -> {"output": ...}."""

from __future__ import annotations

import httpx2
import numpy as np
import orjson
import pytest

from modelport.datasets import load_digits_28x28

FORM = {"content-type": "application/x-www-form-urlencoded"}  # what `curl -d` sends


@pytest.fixture(scope="module")
def samples() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits_28x28()
    return x[:20], y[:20]


async def test_batch_in_batch_out_like_curl(
    digits_client: httpx2.AsyncClient, samples: tuple[np.ndarray, np.ndarray]
) -> None:
    x, y = samples
    body = orjson.dumps({"input": x.tolist()})
    response = await digits_client.post("/predict", content=body, headers=FORM)
    assert response.status_code == 200, response.text
    output = np.array(response.json()["output"])
    assert output.shape == (20, 10)
    assert np.allclose(output.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(output.argmax(axis=1) == y) >= 0.9


async def test_single_sample_without_batch_dimension(
    digits_client: httpx2.AsyncClient, samples: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = samples
    flat = (await digits_client.post("/predict", json={"input": x[0].tolist()})).json()["output"]
    batch = (await digits_client.post("/predict", json={"input": [x[0].tolist()]})).json()
    assert np.array(flat).shape == (10,)
    assert flat == batch["output"][0]


async def test_images_in_28x28_are_flattened(
    digits_client: httpx2.AsyncClient, samples: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = samples
    images = x[:3].reshape(3, 28, 28).tolist()
    by_image = (await digits_client.post("/predict", json={"input": images})).json()["output"]
    by_row = (await digits_client.post("/predict", json={"input": x[:3].tolist()})).json()
    assert by_image == by_row["output"]
    one = (await digits_client.post("/predict", json={"input": images[0]})).json()["output"]
    assert one == by_image[0]


async def test_named_model_route_and_several_inputs(client: httpx2.AsyncClient) -> None:
    body = {"input": {"a": [[1, 2, 3, 4]], "b": [[1, 1, 1, 1]]}}
    response = await client.post("/models/add_sub/predict", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"output": {"sum": [[2, 3, 4, 5]], "diff": [[0, 1, 2, 3]]}}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, '{"input": <nested list>}'),
        (b'{"inputs": []}', 400, '{"input": <nested list>}'),
        (b'{"input": [[1]], "extra": 1}', 400, "unknown keys ['extra']"),
        (b'{"input": [[1, 2, 3]]}', 400, "expected shape [-1, 784], got [1, 3]"),
        (b'{"input": [["a", "b"]]}', 400, "expected FP32 data, got non-numeric values"),
        (b'{"input": [[1, 2], [3]]}', 400, "ragged"),
        (b'{"input": 5}', 400, "expected a (nested) list"),
        (b'{"input": {"nope": [1]}}', 400, "unknown input 'nope'"),
    ],
)
async def test_bad_predict_requests(
    digits_client: httpx2.AsyncClient, body: bytes, status: int, message: str
) -> None:
    response = await digits_client.post("/predict", content=body, headers=FORM)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


async def test_several_models_and_no_default(client: httpx2.AsyncClient) -> None:
    response = await client.post("/predict", json={"input": [[1]]})
    assert response.status_code == 404
    error = response.json()["error"]
    assert "--default-model NAME" in error and "POST /models/add_sub/predict" in error
    assert "add_sub (READY)" in error and "broken (UNAVAILABLE)" in error  # names them all


async def test_multi_input_model_needs_named_inputs(client: httpx2.AsyncClient) -> None:
    response = await client.post("/models/add_sub/predict", json={"input": [[1, 2, 3, 4]]})
    assert response.status_code == 400
    assert "has 2 inputs ['a', 'b']" in response.json()["error"]
