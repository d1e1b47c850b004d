"""TF Serving's REST API, with the request and response shapes of its api_rest.md."""

from __future__ import annotations

import base64

import httpx2
import numpy as np
import pytest


async def test_model_status(client: httpx2.AsyncClient) -> None:
    status = (await client.get("/v1/models/versioned")).json()
    assert status == {
        "model_version_status": [
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "3",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ]
    }
    one = (await client.get("/v1/models/versioned/versions/3")).json()
    assert [s["version"] for s in one["model_version_status"]] == ["3"]
    labelled = (await client.get("/v1/models/versioned/labels/stable")).json()
    assert [s["version"] for s in labelled["model_version_status"]] == ["2"]
    broken = (await client.get("/v1/models/broken")).json()["model_version_status"][0]
    assert broken["state"] == "END" and broken["status"]["error_code"] == "UNKNOWN"


async def test_metadata_signature_def(client: httpx2.AsyncClient) -> None:
    meta = (await client.get("/v1/models/add_sub/metadata")).json()
    assert meta["model_spec"] == {"name": "add_sub", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["a"] == {
        "dtype": "DT_FLOAT",
        "tensor_shape": {
            "dim": [{"size": "-1", "name": ""}, {"size": "4", "name": ""}],
            "unknown_rank": False,
        },
        "name": "a",
    }
    assert set(signature["outputs"]) == {"sum", "diff"}


async def test_predict_row_format_single_input(digits_client: httpx2.AsyncClient) -> None:
    body = {"instances": [[0.0] * 784, [0.5] * 784]}
    response = await digits_client.post("/v1/models/digits:predict", json=body)
    assert response.status_code == 200, response.text
    predictions = np.array(response.json()["predictions"])
    assert predictions.shape == (2, 10)
    v2 = await digits_client.post("/predict", json={"input": body["instances"]})
    assert np.array_equal(predictions, np.array(v2.json()["output"]))


async def test_predict_row_format_named_inputs_and_outputs(client: httpx2.AsyncClient) -> None:
    body = {
        "signature_name": "serving_default",
        "instances": [
            {"a": [1, 2, 3, 4], "b": [1, 1, 1, 1]},
            {"a": [0, 0, 0, 0], "b": [1, 2, 3, 4]},
        ],
    }
    response = await client.post("/v1/models/add_sub:predict", json=body)
    assert response.json() == {
        "predictions": [
            {"sum": [2, 3, 4, 5], "diff": [0, 1, 2, 3]},
            {"sum": [1, 2, 3, 4], "diff": [-1, -2, -3, -4]},
        ]
    }


async def test_predict_columnar_format(client: httpx2.AsyncClient) -> None:
    body = {"inputs": {"a": [[1, 2, 3, 4]], "b": [[4, 3, 2, 1]]}}
    response = await client.post("/v1/models/add_sub/versions/1:predict", json=body)
    assert response.json() == {"outputs": {"sum": [[5, 5, 5, 5]], "diff": [[-3, -1, 1, 3]]}}
    single = await client.post("/v1/models/identity_int32:predict", json={"inputs": [[1, 2]]})
    assert single.json() == {"outputs": [[1, 2]]}


async def test_labels_route_to_versions(client: httpx2.AsyncClient) -> None:
    body = {"instances": [[1.0, 2.0]]}
    for label in ("stable", "canary"):
        response = await client.post(f"/v1/models/versioned/labels/{label}:predict", json=body)
        assert response.json() == {"predictions": [[1.0, 2.0]]}
    missing = await client.post("/v1/models/versioned/labels/beta:predict", json=body)
    assert missing.status_code == 404
    assert "Unrecognized servable version label: beta" in missing.json()["error"]


async def test_b64_strings_and_nan_tokens(client: httpx2.AsyncClient) -> None:
    encoded = base64.b64encode("café".encode()).decode()
    body = {"instances": [[{"b64": encoded}, "plain"]]}
    response = await client.post("/v1/models/identity_bytes:predict", json=body)
    assert response.status_code == 200, response.text
    # A string output not named *_bytes comes back as text, as TF Serving does.
    assert response.json() == {"predictions": [["café", "plain"]]}
    nan_body = b'{"instances": [[NaN, Infinity, -Infinity, 1.5]]}'
    response = await client.post("/v1/models/identity_fp32:predict", content=nan_body)
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [[None, None, None, 1.5]]}


async def test_url_matching_is_case_insensitive(client: httpx2.AsyncClient) -> None:
    body = {"inputs": [[1, 2]]}
    response = await client.post("/v1/models/identity_int32:PREDICT", json=body)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/v1/models", None, 400, "Missing model name"),
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "unknown model 'nope'"),
        ("POST", "/v1/models/add_sub:classify", {"examples": []}, 501, "classify is not supported"),
        ("POST", "/v1/models/add_sub:regress", {"examples": []}, 501, "regress is not supported"),
        ("POST", "/v1/models/add_sub:predict", {"instances": [], "inputs": {}}, 400, "exactly one"),
        ("POST", "/v1/models/add_sub:predict", {}, 400, "exactly one"),
        (
            "POST",
            "/v1/models/add_sub:predict",
            {"signature_name": "other", "inputs": {}},
            400,
            "'other' not found",
        ),
        ("POST", "/v1/models/add_sub:predict", {"instances": [[1, 2, 3, 4]]}, 400, "has 2 inputs"),
        (
            "POST",
            "/v1/models/add_sub:predict",
            {"instances": [{"a": [1, 2, 3, 4]}, {"b": [1]}]},
            400,
            "every instance must name the same inputs",
        ),
        (
            "POST",
            "/v1/models/add_sub:predict",
            {"inputs": {"a": [[1, 2, 3, 4]]}},
            400,
            "missing required input(s) ['b']",
        ),
        (
            "POST",
            "/v1/models/identity_fp32:predict",
            {"instances": [[{"b64": "AA=="}]]},
            400,
            "only accepted for string tensors",
        ),
        (
            "POST",
            "/v1/models/identity_bytes:predict",
            {"instances": [[{"b64": "!!"}]]},
            400,
            "invalid base64",
        ),
        (
            "POST",
            "/v1/models/identity_fp32:predict",
            {"instances": [["x"]]},
            400,
            "expected FP32 data",
        ),
        ("GET", "/v1/models/add_sub:predict", None, 400, "use POST"),
        ("POST", "/v1/models/add_sub/metadata", {}, 400, "use GET"),
    ],
)
async def test_tf_serving_errors(
    client: httpx2.AsyncClient, method: str, path: str, body: object, status: int, message: str
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert (await client.get("/v2/health/live")).status_code == 200
