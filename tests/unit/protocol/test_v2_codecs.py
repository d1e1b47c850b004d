"""V2 JSON and binary codecs against golden files, and round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modelport.errors import InvalidInput
from modelport.protocol import jsonbody, v2_binary, v2_json
from modelport.tensor import TensorSpec, datatype_of
from modelport.types import InferOutput, InferResponse, ModelMetadata
from tests.data.make_golden import golden_response

DATA = Path(__file__).parents[2] / "data"


def test_golden_json_request_decodes() -> None:
    obj = jsonbody.loads((DATA / "v2_request_add_sub.json").read_bytes(), 100)
    request = v2_json.decode_request(obj, "add_sub", "1")
    assert (request.id, request.model_name, request.model_version) == ("42", "add_sub", "1")
    assert request.binary_outputs is True
    assert request.parameters["custom"] == "kept"
    a, b = request.inputs
    assert a.data.dtype == np.float32 and a.data.tolist() == [[1, 2], [3, 4]]
    assert b.data.tolist() == [[5, 6], [7, 8]] and b.parameters == {"note": "flat data"}
    assert [(o.name, o.binary) for o in request.outputs] == [("sum", False), ("diff", None)]


def test_golden_binary_response_encodes_byte_for_byte() -> None:
    body, headers = v2_binary.encode_response(golden_response())
    assert body == (DATA / "v2_response_mixed.bin").read_bytes()
    assert headers[v2_binary.HEADER] == (DATA / "v2_response_mixed.header").read_text().strip()
    assert headers["content-type"] == "application/octet-stream"


def test_golden_binary_response_reads_back() -> None:
    body = (DATA / "v2_response_mixed.bin").read_bytes()
    length = int((DATA / "v2_response_mixed.header").read_text())
    header = orjson.loads(body[:length])
    assert header["outputs"][0]["data"] == [1.5, 2.0, -3.25, 0.0]
    diff_size = header["outputs"][1]["parameters"]["binary_data_size"]
    diff = np.frombuffer(body[length : length + diff_size], "<i8")
    assert diff.tolist() == [1, -2, 3, 2**40]
    names = body[length + diff_size :]
    assert names == b"\x01\x00\x00\x00a\x05\x00\x00\x00\xc3\xa9t\xc3\xa9"


def test_json_only_response_has_no_binary_header() -> None:
    response = InferResponse("m", "", (InferOutput("y", "BOOL", np.array([True, False])),))
    body, headers = v2_binary.encode_response(response)
    assert v2_binary.HEADER not in headers
    assert orjson.loads(body) == {
        "model_name": "m",
        "id": "",
        "outputs": [{"name": "y", "datatype": "BOOL", "shape": [2], "data": [True, False]}],
    }


@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int8, np.uint32, np.int64, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
    )
)
def test_binary_request_round_trip(array: np.ndarray) -> None:
    raw = array.tobytes()
    spec = {"name": "x", "datatype": datatype_of(array).name, "shape": list(array.shape)}
    header = {"inputs": [{**spec, "parameters": {"binary_data_size": len(raw)}}]}
    head = orjson.dumps(header)
    request = v2_binary.decode_request(head + raw, len(head), "m", "", 100)
    decoded = request.inputs[0].data
    assert decoded.shape == array.shape
    assert np.array_equal(decoded, array, equal_nan=array.dtype.kind == "f")


def test_raw_request_infers_the_variable_dimension() -> None:
    meta = ModelMetadata("m", "p", (TensorSpec("x", "FP32", (-1, -1)),), ())
    request = v2_binary.decode_raw_request(np.arange(6, dtype=np.float32).tobytes(), meta, "m", "")
    assert request.inputs[0].data.shape == (1, 6)
    assert request.binary_outputs is True
    with pytest.raises(InvalidInput, match="cannot infer the shape"):
        v2_binary.decode_raw_request(b"\0" * 7, meta, "m", "")


@pytest.mark.parametrize("value", [" 12 ", "12"])
def test_header_length_tolerates_whitespace(value: str) -> None:
    assert v2_binary.header_length(value, 20) == 12
