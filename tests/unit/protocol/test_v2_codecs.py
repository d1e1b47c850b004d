"""V2 JSON and binary codecs against golden files, and round trips."""

from __future__ import annotations

import sys
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


def _two_input_body(a: np.ndarray, b: np.ndarray, request_id: str = "") -> tuple[bytes, int]:
    inputs = [
        {
            "name": name,
            "datatype": datatype_of(x).name,
            "shape": list(x.shape),
            "parameters": {"binary_data_size": x.nbytes},
        }
        for name, x in (("a", a), ("b", b))
    ]
    outputs = [{"name": "y", "parameters": {"binary_data": True}}]
    head = orjson.dumps({"id": request_id, "inputs": inputs, "outputs": outputs})
    return head + a.tobytes() + b.tobytes(), len(head)


@given(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)),
    hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)),
    st.integers(min_value=0, max_value=2**31),
)
def test_a_remembered_header_gives_the_request_a_full_decode_gives(
    a: np.ndarray, b: np.ndarray, seed: int
) -> None:
    """Clients send one JSON header for every request of a kind: the memo decodes it once,
    and each later body (same header, new bytes) becomes exactly what a full decode makes."""
    memo = v2_binary.HeaderMemo()
    first, length = _two_input_body(a, b)
    memo.decode(first, length, "m", "1", 100)
    rng = np.random.default_rng(seed)
    a2 = rng.standard_normal(a.shape).astype(np.float32)
    b2 = rng.integers(-(2**40), 2**40, b.shape)
    body, same_length = _two_input_body(a2, b2)
    assert same_length == length
    remembered = memo.decode(body, length, "other", "2", 100)
    full = v2_binary.decode_request(body, length, "other", "2", 100)
    assert remembered.model_name == "other" and remembered.model_version == "2"
    assert (remembered.id, remembered.outputs, remembered.parameters) == (
        full.id,
        full.outputs,
        full.parameters,
    )
    assert [(t.name, t.datatype, t.parameters) for t in remembered.inputs] == [
        (t.name, t.datatype, t.parameters) for t in full.inputs
    ]
    assert np.array_equal(remembered.inputs[0].data, a2)
    assert np.array_equal(remembered.inputs[1].data, b2)


def test_a_remembered_header_with_a_body_of_another_size_is_refused_as_before() -> None:
    memo = v2_binary.HeaderMemo()
    body, length = _two_input_body(np.zeros((1, 3), np.float32), np.zeros(2, np.int64))
    memo.decode(body, length, "m", "", 100)
    with pytest.raises(InvalidInput, match="exceeds the 12 bytes of binary data left"):
        memo.decode(body[:-4], length, "m", "", 100)
    with pytest.raises(InvalidInput, match="4 bytes of binary data that no input"):
        memo.decode(body + b"\0" * 4, length, "m", "", 100)
    assert memo.decode(body, length, "m", "", 100).inputs[1].data.shape == (2,)


def test_the_memo_keeps_a_bounded_number_of_headers() -> None:
    memo = v2_binary.HeaderMemo(size=4)
    x = np.zeros(2, np.float32)
    for i in range(10):  # a client with a new id in every header: never a hit, never growing
        body, length = _two_input_body(x, x.astype(np.int64), request_id=str(i))
        assert memo.decode(body, length, "m", "", 100).id == str(i)
        assert len(memo) <= 4


def test_bytes_and_inline_values_are_decoded_every_time() -> None:
    memo = v2_binary.HeaderMemo()
    head = orjson.dumps({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [1],
                                     "parameters": {"binary_data_size": 7}}]})  # fmt: skip
    for text in (b"abc", b"xyz"):
        request = memo.decode(head + len(text).to_bytes(4, "little") + text, len(head), "m", "", 9)
        assert request.inputs[0].data.tolist() == [text]


def test_the_memo_holds_no_body_and_no_long_header() -> None:
    """A remembered header must not pin the (possibly large) body it came with; headers
    longer than MAX_HEADER_BYTES are decoded each time and never kept."""
    memo = v2_binary.HeaderMemo()
    x = np.zeros((4, 1000), np.float32)
    body, length = _two_input_body(x, np.zeros(1, np.int64))
    before = sys.getrefcount(body)
    memo.decode(body, length, "m", "", 100)
    assert sys.getrefcount(body) == before  # the request decoded from it is gone
    long_id = "i" * v2_binary.HeaderMemo.MAX_HEADER_BYTES
    body, length = _two_input_body(x, np.zeros(1, np.int64), request_id=long_id)
    assert memo.decode(body, length, "m", "", 100).id == long_id
    assert len(memo) == 1
