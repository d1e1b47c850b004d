"""Every malformed, inconsistent or hostile request gets a precise 4xx, and serving goes on.

Cases follow shared/RELIABILITY.md part A (A1 to A14) and R1/R2 over V2 JSON and binary.
"""

from __future__ import annotations

import gzip
import struct
from typing import Any

import httpx2
import orjson
import pytest

ADD_SUB = "/v2/models/add_sub/infer"
HEADER = "Inference-Header-Content-Length"


def tensor(name: str = "a", datatype: str = "FP32", shape: Any = (1, 4), data: Any = None) -> dict:
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(shape) if isinstance(shape, tuple) else shape,
        "data": [1, 2, 3, 4] if data is None else data,
    }


def good_body() -> dict:
    return {"inputs": [tensor("a"), tensor("b")]}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


def infer_json(inputs: list, **extra: Any) -> bytes:
    return orjson.dumps({"inputs": inputs, **extra})


def binary(header: dict, tail: bytes, length: str | None = None) -> tuple[bytes, dict]:
    head = orjson.dumps(header)
    return head + tail, {HEADER: str(len(head)) if length is None else length}


def bin_input(name: str, size: int, datatype: str = "FP32", shape: Any = (1, 4)) -> dict:
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(shape),
        "parameters": {"binary_data_size": size},
    }


FOUR_FLOATS = struct.pack("<4f", 1, 2, 3, 4)

# (id, path, body, headers, status, message fragment)
CASES: list[tuple[str, str, bytes, dict, int, str]] = [
    ("A1 not json", ADD_SUB, b"hello", {}, 400, "malformed JSON"),
    ("A1 truncated", ADD_SUB, b'{"inputs": [', {}, 400, "malformed JSON"),
    ("A1 empty body", ADD_SUB, b"", {}, 400, "request body is empty"),
    ("A1 json array", ADD_SUB, b"[]", {}, 400, "must be a JSON object"),
    (
        "A1 negative timeout",  # refused on every path, the model computing at once included
        ADD_SUB,
        infer_json(good_body()["inputs"], parameters={"timeout": -5}),
        {},
        400,
        "parameter 'timeout' must be a non-negative integer",
    ),
    (
        "A1 pickle type",
        ADD_SUB,
        b"\x80\x04",
        {"content-type": "application/x-python-serialize"},
        415,
        "not accepted",
    ),
    (
        "A1 multipart",
        ADD_SUB,
        b"--x--",
        {"content-type": "multipart/form-data; boundary=x"},
        415,
        "not accepted",
    ),
    ("A1 no inputs", ADD_SUB, b"{}", {}, 400, "non-empty 'inputs' list"),
    (
        "A2 unknown model",
        "/v2/models/nope/infer",
        infer_json([tensor()]),
        {},
        404,
        "unknown model 'nope'",
    ),
    (
        "A2 unknown version",
        "/v2/models/add_sub/versions/9/infer",
        infer_json([tensor()]),
        {},
        404,
        "unknown version 9",
    ),
    ("A2 not ready", "/v2/models/broken/infer", infer_json([tensor()]), {}, 503, "not ready"),
    (
        "A3 missing input",
        ADD_SUB,
        infer_json([tensor("a")]),
        {},
        400,
        "missing required input(s) ['b']",
    ),
    (
        "A3 unknown input",
        ADD_SUB,
        infer_json([tensor("a"), tensor("b"), tensor("c")]),
        {},
        400,
        "unexpected inference input(s) ['c']",
    ),
    (
        "A3 duplicate input",
        ADD_SUB,
        infer_json([tensor("a"), tensor("a")]),
        {},
        400,
        "input 'a' appears more than once",
    ),
    (
        "A3 duplicate output",
        ADD_SUB,
        infer_json([tensor("a"), tensor("b")], outputs=[{"name": "sum"}, {"name": "sum"}]),
        {},
        400,
        "output 'sum' appears more than once",
    ),
    (
        "A3 unknown output",
        ADD_SUB,
        infer_json([tensor("a"), tensor("b")], outputs=[{"name": "x"}]),
        {},
        400,
        "unexpected inference output 'x'",
    ),
    (
        "A4 bad datatype",
        ADD_SUB,
        infer_json([tensor("a", "FP33"), tensor("b")]),
        {},
        400,
        "unsupported datatype 'FP33'",
    ),
    (
        "A4 wrong datatype",
        ADD_SUB,
        infer_json([tensor("a", "INT64"), tensor("b")]),
        {},
        400,
        "expected datatype FP32, got INT64",
    ),
    (
        "A4 strings for numbers",
        ADD_SUB,
        infer_json([tensor("a", data=["1", "2", "3", "4"]), tensor("b")]),
        {},
        400,
        "expected FP32 data, got non-numeric values",
    ),
    (
        "A4 float for int",
        "/v2/models/identity_int32/infer",
        infer_json([tensor("input", "INT32", (1, 2), [1.5, 2])]),
        {},
        400,
        "expected INT32 data",
    ),
    (
        "A4 int overflow",
        "/v2/models/identity_int8/infer",
        infer_json([tensor("input", "INT8", (1, 1), [300])]),
        {},
        400,
        "out of range for INT8",
    ),
    (
        "A5 too few",
        ADD_SUB,
        infer_json([tensor("a", data=[1, 2, 3]), tensor("b")]),
        {},
        400,
        "expected 4 elements for shape [1, 4], got 3",
    ),
    (
        "A5 too many",
        ADD_SUB,
        infer_json([tensor("a", data=[1, 2, 3, 4, 5]), tensor("b")]),
        {},
        400,
        "expected 4 elements for shape [1, 4], got 5",
    ),
    (
        "A5 ragged",
        ADD_SUB,
        infer_json([tensor("a", shape=(2, 2), data=[[1, 2], [3]]), tensor("b")]),
        {},
        400,
        "ragged",
    ),
    (
        "A6 rank",
        ADD_SUB,
        infer_json([tensor("a", shape=(4,)), tensor("b")]),
        {},
        400,
        "expected shape [-1, 4], got [4]",
    ),
    (
        "A6 fixed dim",
        ADD_SUB,
        infer_json([tensor("a", shape=(2, 2)), tensor("b")]),
        {},
        400,
        "expected shape [-1, 4], got [2, 2]",
    ),
    (
        "A6 scalar",
        ADD_SUB,
        infer_json([tensor("a", shape=[], data=[1]), tensor("b")]),
        {},
        400,
        "expected shape [-1, 4], got []",
    ),
    (
        "A7 negative dim",
        ADD_SUB,
        infer_json([tensor("a", shape=[2, -5]), tensor("b")]),
        {},
        400,
        "must be non-negative, got -5",
    ),
    (
        "A7 float dim",
        ADD_SUB,
        infer_json([tensor("a", shape=[1.5, 4]), tensor("b")]),
        {},
        400,
        "must be integers, got 1.5",
    ),
    (
        "A7 string dim",
        ADD_SUB,
        infer_json([tensor("a", shape=["3", 4]), tensor("b")]),
        {},
        400,
        "must be integers, got '3'",
    ),
    (
        "A7 bool dim",
        ADD_SUB,
        infer_json([tensor("a", shape=[True, 4]), tensor("b")]),
        {},
        400,
        "must be integers, got True",
    ),
    (
        "A7 huge dim",
        ADD_SUB,
        b'{"inputs":[{"name":"a","datatype":"FP32","shape":[18446744073709551616,4],"data":[1]}]}',
        {},
        400,
        "must be integers",
    ),
    (
        "A7 shape not a list",
        ADD_SUB,
        infer_json([tensor("a", shape=4), tensor("b")]),
        {},
        400,
        "shape must be a list",
    ),
    (
        "A8 element overflow",
        ADD_SUB,
        infer_json([tensor("a", shape=[16, 2**60 + 2], data=[1]), tensor("b")]),
        {},
        400,
        "elements; the maximum is",
    ),
    (
        "A8 byte overflow",
        ADD_SUB,
        *binary({"inputs": [bin_input("a", 4, shape=(4, 2**60 + 2)), tensor("b")]}, b"\0\0\0\0"),
        400,
        "elements; the maximum is",
    ),
    (
        "A10 NaN token",
        ADD_SUB,
        b'{"inputs":[{"name":"a","datatype":"FP32","shape":[1,1],"data":[NaN]}]}',
        {},
        400,
        "malformed JSON",
    ),
    (
        "A11 depth 120",
        ADD_SUB,
        b'{"inputs":[{"name":"a","datatype":"FP32","shape":[1],"data":' + nested(120) + b"}]}",
        {},
        400,
        "JSON nesting depth exceeds 100",
    ),
    ("A11 depth 250000", ADD_SUB, nested(250_000), {}, 400, "JSON nesting depth exceeds 100"),
    (
        "A11 deep index body",
        "/v2/repository/index",
        nested(5000),
        {},
        400,
        "JSON nesting depth exceeds 100",
    ),
    ("A12 header past body", ADD_SUB, b"{}", {HEADER: "100"}, 400, "exceeds the body size 2"),
    ("A12 negative header", ADD_SUB, b"{}", {HEADER: "-1"}, 400, "non-negative integer"),
    ("A12 text header", ADD_SUB, b"{}", {HEADER: "abc"}, 400, "non-negative integer"),
    ("A12 huge header", ADD_SUB, b"{}", {HEADER: "99999999999"}, 400, "exceeds the body size"),
    (
        "A12 binary too short",
        ADD_SUB,
        *binary({"inputs": [bin_input("a", 16), bin_input("b", 16)]}, FOUR_FLOATS),
        400,
        "exceeds the 0 bytes of binary data left",
    ),
    (
        "A12 binary left over",
        ADD_SUB,
        *binary({"inputs": [bin_input("a", 16), tensor("b")]}, FOUR_FLOATS * 2),
        400,
        "16 bytes of binary data that no input",
    ),
    (
        "A12 size mismatch",
        ADD_SUB,
        *binary({"inputs": [bin_input("a", 12), tensor("b")]}, FOUR_FLOATS[:12]),
        400,
        "expected 16 bytes of FP32 data for shape [1, 4], got 12",
    ),
    ("A12 raw body, two inputs", ADD_SUB, FOUR_FLOATS, {HEADER: "0"}, 400, "has 2"),
    (
        "A12 size without binary",
        ADD_SUB,
        infer_json([bin_input("a", 16), tensor("b")]),
        {},
        400,
        "no binary part",
    ),
    (
        "A12 size and data",
        ADD_SUB,
        infer_json([{**tensor("a"), "parameters": {"binary_data_size": 16}}, tensor("b")]),
        {},
        400,
        "has both 'data' and a 'binary_data_size'",
    ),
    (
        "A13 bytes prefix past end",
        "/v2/models/identity_bytes/infer",
        *binary(
            {"inputs": [bin_input("input", 8, "BYTES", (1, 1))]}, struct.pack("<I", 99) + b"abcd"
        ),
        400,
        "claims 99 bytes but only 4 remain",
    ),
    (
        "A14 dot-dot model",
        "/v2/models/%2e%2e/infer",
        infer_json([tensor()]),
        {},
        404,
        "unknown model '..'",
    ),
    (
        "A14 RTL model name",
        "/v2/models/%E2%80%AEevil/infer",
        infer_json([tensor()]),
        {},
        404,
        "unknown model",
    ),
    (
        "A14 NUL model name",
        "/v2/models/a%00b/infer",
        infer_json([tensor()]),
        {},
        404,
        "unknown model",
    ),
    (
        "shared memory",
        ADD_SUB,
        infer_json(
            [
                {
                    **tensor("a"),
                    "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 16},
                },
                tensor("b"),
            ]
        ),
        {},
        400,
        "shared memory is not supported",
    ),
    (
        "id not a string",
        ADD_SUB,
        infer_json([tensor("a"), tensor("b")], id=7),
        {},
        400,
        "'id' must be a string",
    ),
    (
        "parameter value a list",
        ADD_SUB,
        infer_json([tensor("a"), tensor("b")], parameters={"x": [1]}),
        {},
        400,
        "parameter 'x' must be a string, number or boolean",
    ),
    (
        "binary_data_output not bool",
        ADD_SUB,
        infer_json([tensor("a"), tensor("b")], parameters={"binary_data_output": "yes"}),
        {},
        400,
        "'binary_data_output' must be a boolean",
    ),
    (
        "classification not int",
        ADD_SUB,
        infer_json(
            [tensor("a"), tensor("b")],
            outputs=[{"name": "sum", "parameters": {"classification": "x"}}],
        ),
        {},
        400,
        "classification must be a positive integer",
    ),
    (
        "R2 unknown encoding",
        ADD_SUB,
        b"x",
        {"content-encoding": "br"},
        415,
        "unsupported Content-Encoding 'br'",
    ),
    (
        "R2 corrupt gzip",
        ADD_SUB,
        b"\x1f\x8bnot gzip",
        {"content-encoding": "gzip"},
        400,
        "not valid gzip data",
    ),
    (
        "R2 gzip bomb",
        ADD_SUB,
        gzip.compress(b"\0" * (8 << 20)),
        {"content-encoding": "gzip"},
        413,
        "decompressed request body exceeds the limit",
    ),
    ("R1 over limit", ADD_SUB, b" " * ((1 << 20) + 1), {}, 413, "exceeds the limit of 1048576"),
]


async def assert_still_serving(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/v2/health/live")).status_code == 200
    response = await client.post(ADD_SUB, json=good_body())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_bad_request_gets_a_precise_4xx(
    client: httpx2.AsyncClient, path: str, body: bytes, headers: dict, status: int, message: str
) -> None:
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error
    await assert_still_serving(client)


async def test_streamed_body_over_the_limit_is_413(client: httpx2.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 65536

    response = await client.post(ADD_SUB, content=chunks())
    assert response.status_code == 413
    await assert_still_serving(client)


async def test_body_just_under_the_limit_is_read(client: httpx2.AsyncClient) -> None:
    body = orjson.dumps(good_body())
    padded = body + b" " * ((1 << 20) - len(body))
    response = await client.post(ADD_SUB, content=padded)
    assert response.status_code == 200, response.text


async def test_zero_size_batch_gives_empty_output(client: httpx2.AsyncClient) -> None:
    body = {"inputs": [tensor("a", shape=(0, 4), data=[]), tensor("b", shape=(0, 4), data=[])]}
    response = await client.post(ADD_SUB, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0] == {
        "name": "sum",
        "datatype": "FP32",
        "shape": [0, 4],
        "data": [],
    }


async def test_nan_from_the_model_is_valid_json_null(client: httpx2.AsyncClient) -> None:
    raw = struct.pack("<3f", float("nan"), float("inf"), 1.0)
    content, headers = binary({"inputs": [bin_input("input", 12, shape=(1, 3))]}, raw)
    response = await client.post("/v2/models/identity_fp32/infer", content=content, headers=headers)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [None, None, 1.0]


async def test_moderate_nesting_is_not_a_depth_error(client: httpx2.AsyncClient) -> None:
    body = b'{"inputs":[{"name":"a","datatype":"FP32","shape":[1,4],"data":' + nested(50) + b"}]}"
    response = await client.post(ADD_SUB, content=body)
    assert response.status_code == 400
    assert "depth" not in response.json()["error"]
