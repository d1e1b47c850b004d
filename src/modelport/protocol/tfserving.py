"""TensorFlow Serving's REST API: ``instances``/``inputs`` ⇄ ``types``, status, metadata.

Row form (``instances``) stacks one value per example; columnar form (``inputs``) sends
whole tensors. ``{"b64": ...}`` carries bytes; outputs named ``*_bytes`` are returned
that way. Facts from tensorflow/serving's api_rest.md and json_tensor.cc.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from modelport.errors import InvalidInput, shown
from modelport.protocol.v2_json import json_values
from modelport.tensor import TensorSpec, array_from_nested, datatype
from modelport.types import InferInput, InferRequest, InferResponse, ModelIndexEntry, ModelMetadata

SIGNATURE = "serving_default"
STATES = {"READY": "AVAILABLE", "LOADING": "LOADING", "UNAVAILABLE": "END"}


def decode_predict(obj: Any, metadata: ModelMetadata, version: str) -> tuple[InferRequest, bool]:
    """The request, and whether it used the row (``instances``) form."""
    if not isinstance(obj, dict):
        raise InvalidInput("request body must be a JSON object")
    signature = obj.get("signature_name", SIGNATURE)
    if signature not in (SIGNATURE, ""):
        raise InvalidInput(f"Serving signature name: '{signature}' not found in signature def")
    if ("instances" in obj) == ("inputs" in obj):
        raise InvalidInput("the request must have exactly one of 'instances' or 'inputs'")
    row = "instances" in obj
    columns = (
        _rows_to_columns(obj["instances"], metadata) if row else _columns(obj["inputs"], metadata)
    )
    inputs = tuple(_tensor(metadata, name, value) for name, value in columns.items())
    request = InferRequest(model_name=metadata.name, model_version=version, inputs=inputs)
    return request, row


def _rows_to_columns(instances: Any, metadata: ModelMetadata) -> dict[str, Any]:
    if not isinstance(instances, list) or not instances:
        raise InvalidInput("'instances' must be a non-empty list")
    named = all(isinstance(item, dict) and "b64" not in item for item in instances)
    if not named:
        if len(metadata.inputs) != 1:
            raise InvalidInput(
                f"model '{metadata.name}' has {len(metadata.inputs)} inputs; each instance must "
                "be an object naming them"
            )
        return {metadata.inputs[0].name: instances}
    names = {name for item in instances for name in item}
    if any(set(item) != names for item in instances):
        raise InvalidInput("every instance must name the same inputs")
    return {name: [item[name] for item in instances] for name in sorted(names)}


def _columns(inputs: Any, metadata: ModelMetadata) -> dict[str, Any]:
    if isinstance(inputs, dict) and "b64" not in inputs:
        return inputs
    if len(metadata.inputs) != 1:
        raise InvalidInput(f"model '{metadata.name}' has several inputs; 'inputs' must name them")
    return {metadata.inputs[0].name: inputs}


def _tensor(metadata: ModelMetadata, name: str, value: Any) -> InferInput:
    spec = metadata.require_input(name)
    row = datatype(spec.datatype)
    what = f"input {shown(name)}"
    if row.name == "BYTES":
        value = _unwrap_b64(value, what)
    elif _holds_b64(value):
        raise InvalidInput(f"{what}: b64 values are only accepted for string tensors")
    return InferInput(name, row.name, array_from_nested(value, row, what))


def _unwrap_b64(value: Any, what: str) -> Any:
    if isinstance(value, list):
        return [_unwrap_b64(item, what) for item in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise InvalidInput(f'{what}: binary values must be {{"b64": "<base64>"}}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error as exc:
            raise InvalidInput(f"{what}: invalid base64: {exc}") from exc
    return value


def _holds_b64(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and _holds_b64(value[0])
    return isinstance(value, dict)


def encode_predict(response: InferResponse, row: bool) -> dict[str, Any]:
    values = {output.name: _value(output.name, output.data) for output in response.outputs}
    if not row:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    count = len(next(iter(values.values())))
    return {"predictions": [{name: v[i] for name, v in values.items()} for i in range(count)]}


def _value(name: str, array: np.ndarray) -> Any:
    if array.dtype.kind not in "OSU":  # numpy stays numpy: orjson writes float32 exactly
        return np.asarray(json_values(array.reshape(-1), name)).reshape(array.shape)
    flat = [_text(name, item) for item in array.reshape(-1)]
    return np.array(flat, dtype=object).reshape(array.shape).tolist()


def _text(name: str, item: Any) -> Any:
    data = item.encode() if isinstance(item, str) else bytes(item)
    if not name.endswith("_bytes"):
        try:
            return data.decode()
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(data).decode()}


def status_object(entries: list[ModelIndexEntry]) -> dict[str, Any]:
    """GetModelStatusResponse as JSON."""
    return {"model_version_status": [_status(e) for e in entries]}


def _status(entry: ModelIndexEntry) -> dict[str, Any]:
    state = STATES.get(entry.state, "UNKNOWN")
    error = "OK" if state == "AVAILABLE" or not entry.reason else "UNKNOWN"
    return {
        "version": entry.version or "0",
        "state": state,
        "status": {"error_code": error, "error_message": "" if error == "OK" else entry.reason},
    }


def metadata_object(metadata: ModelMetadata, version: str) -> dict[str, Any]:
    """GetModelMetadataResponse as JSON, with one ``serving_default`` signature."""
    signature = {
        "inputs": {spec.name: _tensor_info(spec) for spec in metadata.inputs},
        "outputs": {spec.name: _tensor_info(spec) for spec in metadata.outputs},
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": metadata.name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
    }


def _tensor_info(spec: TensorSpec) -> dict[str, Any]:
    return {
        "dtype": datatype(spec.datatype).tf_name,
        "tensor_shape": {
            "dim": [{"size": str(dim), "name": ""} for dim in spec.shape],
            "unknown_rank": False,
        },
        "name": spec.name,
    }
