"""The client's side of V2 REST: encode requests (JSON or binary), decode responses.

The inverse of what the server does in ``v2_json`` and ``v2_binary``, on the same helpers
and the same dtype table, so a round trip through both sides is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.errors import InvalidInput
from modelport.protocol import jsonbody
from modelport.protocol.v2_binary import BINARY_TYPE, HEADER, JSON_TYPE
from modelport.protocol.v2_json import BinaryCursor, parameters_of, tensor_object
from modelport.tensor import (
    TensorSpec,
    array_from_buffer,
    array_from_list,
    checked_shape,
    datatype,
)
from modelport.types import InferOutput, InferRequest, InferResponse, ModelMetadata


def encode_request(request: InferRequest, binary: bool) -> tuple[bytes, dict[str, str]]:
    """Body and headers for ``POST .../infer``; ``binary`` sends tensors and asks for outputs
    with the binary tensor extension."""
    chunks: list[bytes] = []
    inputs = []
    for tensor in request.inputs:
        item, chunk = tensor_object(
            tensor.name, tensor.datatype, tensor.data, binary, tensor.parameters
        )
        inputs.append(item)
        if chunk is not None:
            chunks.append(chunk)
    obj: dict[str, Any] = {"inputs": inputs}
    if request.id:
        obj["id"] = request.id
    obj["parameters"] = {**request.parameters, "binary_data_output": binary}
    if request.outputs:
        obj["outputs"] = [
            {"name": o.name, "parameters": {**o.parameters, "binary_data": binary}}
            for o in request.outputs
        ]
    head = jsonbody.dumps(obj)
    if not chunks:
        return head, {"content-type": JSON_TYPE}
    return b"".join([head, *chunks]), {HEADER: str(len(head)), "content-type": BINARY_TYPE}


def decode_response(body: bytes, header_length: str | None) -> InferResponse:
    """An inference response, JSON or with the binary extension."""
    view = memoryview(body)
    length = int(header_length) if header_length else len(body)
    obj = jsonbody.loads(view[:length], 1000)
    cursor = BinaryCursor(view[length:])
    outputs = tuple(_output(item, cursor) for item in obj.get("outputs", []))
    cursor.finish()
    return InferResponse(
        model_name=obj.get("model_name", ""),
        model_version=obj.get("model_version", ""),
        outputs=outputs,
        id=obj.get("id", ""),
        parameters=parameters_of(obj.get("parameters"), "response"),
    )


def _output(item: dict[str, Any], cursor: BinaryCursor) -> InferOutput:
    name = item["name"]
    row = datatype(item["datatype"])
    shape = checked_shape(item["shape"], f"output '{name}'")
    size = (item.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        data = array_from_buffer(cursor.take(int(size), name), row, shape, name)
    elif row.name == "BYTES":
        data = array_from_list(item["data"], row, shape, name)
    else:  # null (a NaN or infinity on the server) reads back as NaN
        data = np.asarray(item["data"], dtype=row.numpy).reshape(shape)
    return InferOutput(name, row.name, data, binary=size is not None)


def decode_metadata(obj: Any) -> ModelMetadata:
    if not isinstance(obj, dict) or "inputs" not in obj:
        raise InvalidInput("the server's model metadata is malformed")
    return ModelMetadata(
        name=obj["name"],
        platform=obj.get("platform", ""),
        inputs=tuple(_spec(s) for s in obj["inputs"]),
        outputs=tuple(_spec(s) for s in obj.get("outputs", [])),
        versions=tuple(obj.get("versions", [])),
    )


def _spec(obj: dict[str, Any]) -> TensorSpec:
    return TensorSpec(obj["name"], obj["datatype"], tuple(int(d) for d in obj["shape"]))
