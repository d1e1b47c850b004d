"""Custom Python models (model.py with load/infer) through every protocol path."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from modelport.runtimes import RuntimeOptions
from modelport.runtimes.python import PythonRuntime

BODY = {
    "inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [3], "data": ["a", "bcd", ""]},
        {"name": "x", "datatype": "FP32", "shape": [3], "data": [1, 2, 3]},
    ]
}


async def test_metadata_comes_from_the_class(client: httpx2.AsyncClient) -> None:
    meta = (await client.get("/v2/models/custom")).json()
    assert meta["platform"] == "python"
    assert meta["inputs"] == [
        {"name": "text", "datatype": "BYTES", "shape": [-1]},
        {"name": "x", "datatype": "FP32", "shape": [-1]},
    ]


async def test_infer_uses_what_load_read(client: httpx2.AsyncClient) -> None:
    response = await client.post("/v2/models/custom/infer", json=BODY)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
    assert outputs == {"length": [1, 3, 0], "scaled": [2.5, 5.0, 7.5]}
    tfs = await client.post(
        "/v1/models/custom:predict", json={"inputs": {"text": ["ab"], "x": [4.0]}}
    )
    assert tfs.json() == {"outputs": {"length": [2], "scaled": [10.0]}}


@pytest.mark.parametrize(
    ("word", "status", "message"),
    [
        ("reject", 400, "the word 'reject' is not accepted"),
        ("crash", 500, "model.py raised ZeroDivisionError: boom"),
    ],
)
async def test_errors_from_user_code(
    client: httpx2.AsyncClient, word: str, status: int, message: str
) -> None:
    body = {
        "inputs": [
            {**BODY["inputs"][0], "shape": [1], "data": [word]},
            {**BODY["inputs"][1], "shape": [1], "data": [1]},
        ]
    }
    response = await client.post("/v2/models/custom/infer", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert (await client.post("/v2/models/custom/infer", json=BODY)).status_code == 200


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("x = 1\n", "must define a class Model"),
        ("class Model:\n    def infer(self, i):\n        return i\n", "must declare inputs"),
        (
            "class Model:\n    inputs = [{'name': 'a', 'datatype': 'FP33', 'shape': [1]}]\n"
            "    outputs = inputs\n    def infer(self, i):\n        return i\n",
            "unsupported datatype",
        ),
    ],
)
def test_bad_model_files_fail_to_load(tmp_path: Path, source: str, message: str) -> None:
    (tmp_path / "model.py").write_text(source)
    with pytest.raises(Exception, match=message):
        PythonRuntime(tmp_path / "model.py", RuntimeOptions())
