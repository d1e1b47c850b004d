"""V2 REST in process: health, metadata, JSON and binary inference, the repository index."""

from __future__ import annotations

import gzip
import struct
import zlib

import httpx2
import numpy as np
import orjson
import pytest

from modelport import __version__

HEADER = "Inference-Header-Content-Length"


def binary_request(header: dict, *chunks: bytes) -> tuple[bytes, dict[str, str]]:
    head = orjson.dumps(header)
    return head + b"".join(chunks), {HEADER: str(len(head))}


def split_binary(response: httpx2.Response) -> tuple[dict, bytes]:
    length = int(response.headers[HEADER])
    return orjson.loads(response.content[:length]), response.content[length:]


async def test_health_answers_with_status_and_body(client: httpx2.AsyncClient) -> None:
    live = await client.get("/v2/health/live")
    assert (live.status_code, live.json()) == (200, {"live": True})
    ready = await client.get("/v2/health/ready")
    # Strict readiness (Triton's default): the broken model keeps the server not ready.
    assert (ready.status_code, ready.json()) == (400, {"ready": False})


async def test_health_ready_when_every_model_loads(digits_client: httpx2.AsyncClient) -> None:
    ready = await digits_client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


async def test_server_metadata(client: httpx2.AsyncClient) -> None:
    body = (await client.get("/v2")).json()
    assert body["name"] == "modelport"
    assert body["version"] == __version__
    assert "binary_tensor_data" in body["extensions"]


async def test_model_metadata_comes_from_the_onnx_file(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v2/models/add_sub")
    assert response.status_code == 200
    assert response.json() == {
        "name": "add_sub",
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "b", "datatype": "FP32", "shape": [-1, 4]},
        ],
        "outputs": [
            {"name": "sum", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "diff", "datatype": "FP32", "shape": [-1, 4]},
        ],
    }


async def test_version_policy_and_versioned_routes(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/v2/models/versioned")).json()["versions"] == ["2", "3"]
    assert (await client.get("/v2/models/versioned/versions/2/ready")).status_code == 200
    missing = await client.get("/v2/models/versioned/versions/1")
    assert missing.status_code == 404
    assert "unknown version 1" in missing.json()["error"]
    bad = await client.get("/v2/models/versioned/versions/one")
    assert bad.status_code == 400


async def test_model_ready_and_unknown_model(client: httpx2.AsyncClient) -> None:
    ready = await client.get("/v2/models/add_sub/ready")
    assert (ready.status_code, ready.json()) == (200, {"name": "add_sub", "ready": True})
    broken = await client.get("/v2/models/broken/ready")
    assert (broken.status_code, broken.json()["ready"]) == (400, False)
    unknown = await client.get("/v2/models/nope/ready")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "unknown model 'nope'"}


async def test_broken_model_is_unavailable_with_its_reason(client: httpx2.AsyncClient) -> None:
    index = (await client.post("/v2/repository/index")).json()
    broken = next(entry for entry in index if entry["name"] == "broken")
    assert broken["state"] == "UNAVAILABLE"
    assert broken["reason"]
    assert "/tmp" not in broken["reason"]  # no absolute paths leak over the network
    response = await client.post("/v2/models/broken/infer", json={"inputs": []})
    assert response.status_code == 503
    ready_only = (await client.post("/v2/repository/index", json={"ready": True})).json()
    assert {entry["state"] for entry in ready_only} == {"READY"}


async def test_infer_json_flat_and_nested(client: httpx2.AsyncClient) -> None:
    a = [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    b = [[1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0]]
    body = {
        "id": "req-7",
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [2, 4], "data": a},
            {
                "name": "b",
                "datatype": "FP32",
                "shape": [2, 4],
                "data": np.ravel(b).tolist(),
            },
        ],
    }
    response = await client.post("/v2/models/add_sub/infer", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == "req-7"
    assert (result["model_name"], result["model_version"]) == ("add_sub", "1")
    outputs = {o["name"]: o for o in result["outputs"]}
    assert outputs["sum"]["shape"] == [2, 4]
    assert outputs["sum"]["data"] == (np.array(a) + np.array(b)).ravel().tolist()
    assert outputs["diff"]["data"] == (np.array(a) - np.array(b)).ravel().tolist()


async def test_requested_output_subset(client: httpx2.AsyncClient) -> None:
    body = {
        "inputs": [
            {"name": n, "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]} for n in "ab"
        ],
        "outputs": [{"name": "diff"}],
    }
    result = (await client.post("/v2/models/add_sub/infer", json=body)).json()
    assert [o["name"] for o in result["outputs"]] == ["diff"]
    assert result["outputs"][0]["data"] == [0, 0, 0, 0]


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("BOOL", [True, False, True, True]),
        ("UINT8", [0, 1, 254, 255]),
        ("UINT16", [0, 1, 65534, 65535]),
        ("UINT32", [0, 1, 2**32 - 2, 2**32 - 1]),
        ("UINT64", [0, 1, 2**63, 2**64 - 1]),
        ("INT8", [-128, -1, 0, 127]),
        ("INT16", [-32768, -1, 0, 32767]),
        ("INT32", [-(2**31), -1, 0, 2**31 - 1]),
        ("INT64", [-(2**63), -1, 0, 2**63 - 1]),
        ("FP16", [0.5, -1.0, 2.0, 65504.0]),
        ("FP32", [0.5, -1.25, 3.0e38, 1e-30]),
        ("FP64", [0.1, -1.25, 1e300, 5e-324]),
        ("BYTES", ["hello", "", "wörld", "a\u0000b"]),
    ],
)
async def test_every_datatype_round_trips_in_json(
    client: httpx2.AsyncClient, datatype: str, data: list
) -> None:
    body = {"inputs": [{"name": "input", "datatype": datatype, "shape": [2, 2], "data": data}]}
    response = await client.post(f"/v2/models/identity_{datatype.lower()}/infer", json=body)
    assert response.status_code == 200, response.text
    output = response.json()["outputs"][0]
    assert (output["datatype"], output["shape"]) == (datatype, [2, 2])
    if datatype == "FP32":  # float32 is written in its shortest round-tripping form
        assert np.array_equal(np.array(output["data"], np.float32), np.array(data, np.float32))
    else:
        assert output["data"] == data


@pytest.mark.parametrize(
    ("datatype", "array"),
    [
        ("BOOL", np.array([[True, False, True]])),
        ("UINT64", np.array([[0, 2**64 - 1, 7]], np.uint64)),
        ("INT16", np.array([[-3, 0, 3]], np.int16)),
        ("FP16", np.array([[0.5, -2.0, 1024.0]], np.float16)),
        ("FP32", np.array([[0.1, -2.5, 3.25]], np.float32)),
        ("FP64", np.array([[0.1, -2.5, 1e-300]], np.float64)),
    ],
)
async def test_binary_extension_round_trip(
    client: httpx2.AsyncClient, datatype: str, array: np.ndarray
) -> None:
    raw = array.tobytes()
    header = {
        "inputs": [
            {
                "name": "input",
                "datatype": datatype,
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [{"name": "output", "parameters": {"binary_data": True}}],
    }
    content, headers = binary_request(header, raw)
    response = await client.post(
        f"/v2/models/identity_{datatype.lower()}/infer", content=content, headers=headers
    )
    assert response.status_code == 200, response.text
    result, tail = split_binary(response)
    output = result["outputs"][0]
    assert output["parameters"]["binary_data_size"] == len(raw)
    assert "data" not in output
    assert np.array_equal(np.frombuffer(tail, array.dtype).reshape(array.shape), array)


def packed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(i)) + i for i in items)


def bytes_header(raw: bytes, count: int) -> dict:
    return {
        "inputs": [
            {
                "name": "input",
                "datatype": "BYTES",
                "shape": [1, count],
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "parameters": {"binary_data_output": True},
    }


async def test_binary_bytes_tensor(client: httpx2.AsyncClient) -> None:
    raw = packed(b"abc", b"", "a\u0000b wörld".encode())
    content, headers = binary_request(bytes_header(raw, 3), raw)
    response = await client.post(
        "/v2/models/identity_bytes/infer", content=content, headers=headers
    )
    assert response.status_code == 200, response.text
    _, tail = split_binary(response)
    assert tail == raw


async def test_non_utf8_bytes_for_a_string_model_is_a_400(client: httpx2.AsyncClient) -> None:
    raw = packed(b"ok", b"\xff\xfe")
    content, headers = binary_request(bytes_header(raw, 2), raw)
    response = await client.post(
        "/v2/models/identity_bytes/infer", content=content, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error"] == "input 'input': the model takes strings; data is not UTF-8"


async def test_binary_output_for_json_input_and_mixed(client: httpx2.AsyncClient) -> None:
    a = np.arange(4, dtype=np.float32).reshape(1, 4)
    header = {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": a.ravel().tolist()},
            {
                "name": "b",
                "datatype": "FP32",
                "shape": [1, 4],
                "parameters": {"binary_data_size": 16},
            },
        ],
        "outputs": [{"name": "sum", "parameters": {"binary_data": True}}, {"name": "diff"}],
    }
    content, headers = binary_request(header, a.tobytes())
    response = await client.post("/v2/models/add_sub/infer", content=content, headers=headers)
    result, tail = split_binary(response)
    assert np.array_equal(np.frombuffer(tail, np.float32), (a + a).ravel())
    assert result["outputs"][1]["data"] == [0, 0, 0, 0]


async def test_raw_binary_request_for_single_input_model(
    digits_client: httpx2.AsyncClient,
) -> None:
    sample = np.linspace(0, 1, 784, dtype=np.float32)
    response = await digits_client.post(
        "/v2/models/digits/infer", content=sample.tobytes(), headers={HEADER: "0"}
    )
    assert response.status_code == 200, response.text
    result, tail = split_binary(response)
    assert result["outputs"][0]["shape"] == [1, 10]
    probabilities = np.frombuffer(tail, np.float32)
    assert abs(float(probabilities.sum()) - 1.0) < 1e-5


async def test_perf_analyzer_style_json_with_full_header_length(
    digits_client: httpx2.AsyncClient,
) -> None:
    """perf_analyzer in JSON mode sends the header length equal to the whole body, id ''."""
    body = orjson.dumps(
        {
            "id": "",
            "inputs": [
                {"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784}
            ],
        }
    )
    response = await digits_client.post(
        "/v2/models/digits/infer", content=body, headers={HEADER: str(len(body))}
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == ""


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_compressed_request_body(client: httpx2.AsyncClient, encoding: str) -> None:
    body = orjson.dumps(
        {"inputs": [{"name": "input", "datatype": "INT32", "shape": [1, 3], "data": [1, 2, 3]}]}
    )
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    response = await client.post(
        "/v2/models/identity_int32/infer", content=packed, headers={"Content-Encoding": encoding}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [1, 2, 3]


async def test_classification_extension_uses_labels(digits_client: httpx2.AsyncClient) -> None:
    body = {
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 784], "data": [0.0] * 784}],
        "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}],
    }
    result = (await digits_client.post("/v2/models/digits/infer", json=body)).json()
    output = result["outputs"][0]
    assert (output["datatype"], output["shape"]) == ("BYTES", [1, 3])
    scores = [float(item.split(":")[0]) for item in output["data"]]
    assert scores == sorted(scores, reverse=True)
    for item in output["data"]:
        _score, index, label = item.split(":")
        assert label == index  # labels.txt holds the digit names 0..9


async def test_request_parameters_are_accepted(client: httpx2.AsyncClient) -> None:
    body = {
        "parameters": {"priority": 1, "custom": "x", "ratio": 0.5, "flag": False},
        "inputs": [{"name": "input", "datatype": "INT32", "shape": [1, 1], "data": [9]}],
    }
    response = await client.post("/v2/models/identity_int32/infer", json=body)
    assert response.status_code == 200, response.text


async def test_unknown_route_is_a_json_404(client: httpx2.AsyncClient) -> None:
    response = await client.get("/v2/nothing/here")
    assert response.status_code == 404
    assert "error" in response.json()
    wrong_method = await client.get("/v2/models/add_sub/infer")
    assert wrong_method.status_code == 405
    assert "error" in wrong_method.json()
