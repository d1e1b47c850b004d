"""The client's codecs against the server's: a round trip through both sides is exact."""

from __future__ import annotations

import numpy as np
import pytest

from modelport.protocol import jsonbody, v2_binary, v2_client, v2_grpc, v2_json
from modelport.types import InferInput, InferOutput, InferRequest, InferResponse, RequestedOutput

ARRAYS = {
    "FP32": np.array([[0.1, -2.5, 3e38]], np.float32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], np.int64),
    "BOOL": np.array([[True, False, True]]),
    "BYTES": np.array([[b"a", b"", "é".encode()]], dtype=object),
    "FP16": np.array([[0.5, -1.0, 2.0]], np.float16),
}


def request() -> InferRequest:
    inputs = tuple(InferInput(f"in_{n}", n, a) for n, a in ARRAYS.items())
    return InferRequest("m", inputs, "2", "rid", {"p": 1}, (RequestedOutput("out", True),))


def assert_same_inputs(decoded: InferRequest) -> None:
    for tensor, (name, array) in zip(decoded.inputs, ARRAYS.items(), strict=True):
        assert (tensor.name, tensor.datatype, tensor.shape) == (f"in_{name}", name, array.shape)
        assert np.array_equal(tensor.data, array)


@pytest.mark.parametrize("binary", [True, False])
def test_rest_request_round_trip(binary: bool) -> None:
    body, headers = v2_client.encode_request(request(), binary)
    length = v2_binary.header_length(headers.get(v2_binary.HEADER), len(body))
    decoded = (
        v2_binary.decode_request(body, length, "m", "2", 100)
        if length is not None
        else v2_json.decode_request(jsonbody.loads(body, 100), "m", "2")
    )
    assert_same_inputs(decoded)
    assert decoded.id == "rid" and decoded.parameters["p"] == 1
    assert decoded.binary_outputs is binary


@pytest.mark.parametrize("binary", [True, False])
def test_rest_response_round_trip(binary: bool) -> None:
    outputs = tuple(InferOutput(n, n, a, binary) for n, a in ARRAYS.items())
    body, headers = v2_binary.encode_response(InferResponse("m", "2", outputs, "rid"))
    decoded = v2_client.decode_response(body, headers.get(v2_binary.HEADER))
    assert (decoded.model_name, decoded.model_version, decoded.id) == ("m", "2", "rid")
    for output, (name, array) in zip(decoded.outputs, ARRAYS.items(), strict=True):
        expected = array.astype(np.float32) if name == "FP16" and not binary else array
        assert np.array_equal(output.data, expected) and output.datatype == name


def test_grpc_round_trips() -> None:
    decoded = v2_grpc.decode_infer_request(v2_grpc.encode_infer_request(request()))
    assert_same_inputs(decoded)
    assert decoded.parameters == {"p": 1} and decoded.outputs[0].name == "out"
    outputs = tuple(InferOutput(n, n, a) for n, a in ARRAYS.items())
    message = v2_grpc.encode_infer_response(InferResponse("m", "2", outputs, "rid"))
    back = v2_grpc.decode_infer_response(message)
    for output, array in zip(back.outputs, ARRAYS.values(), strict=True):
        assert np.array_equal(output.data, array)


def test_json_null_reads_back_as_nan() -> None:
    body = (
        b'{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[null,1]}]}'
    )
    data = v2_client.decode_response(body, None).outputs[0].data
    assert np.isnan(data[0]) and data[1] == 1
