"""The plain API: ``POST /predict`` with ``{"input": ...}`` → ``{"output": ...}``.

The input is a nested list for a model with one input, or ``{name: nested list}`` for
several. Datatypes come from the model. A single sample may be sent without its batch
dimension, and a sample may be sent in any shape with the right number of values (a
28x28 image for a model that takes 784 values); the output then matches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelport.errors import InvalidInput, shown
from modelport.protocol import v2_json
from modelport.tensor import TensorSpec, array_from_nested, datatype, element_count
from modelport.types import InferInput, InferRequest, InferResponse, ModelMetadata


def decode_request(obj: Any, metadata: ModelMetadata) -> tuple[InferRequest, bool]:
    """The request, and whether it was a single sample sent without a batch dimension."""
    if not isinstance(obj, dict) or "input" not in obj:
        raise InvalidInput('expected a JSON object {"input": <nested list>}')
    unknown = sorted(set(obj) - {"input"})
    if unknown:
        raise InvalidInput(f'unknown keys {unknown}; expected {{"input": <nested list>}}')
    values = _named_values(obj["input"], metadata)
    decoded = [_decode_input(metadata, name, value) for name, value in values.items()]
    single = bool(decoded) and all(was_single for _, was_single in decoded)
    inputs = tuple(tensor for tensor, _ in decoded)
    return InferRequest(model_name=metadata.name, inputs=inputs), single


def _named_values(value: Any, metadata: ModelMetadata) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if len(metadata.inputs) != 1:
        names = [spec.name for spec in metadata.inputs]
        raise InvalidInput(
            f"model '{metadata.name}' has {len(names)} inputs {names}; "
            'send {"input": {"<name>": <nested list>, ...}}'
        )
    return {metadata.inputs[0].name: value}


def _decode_input(metadata: ModelMetadata, name: str, value: Any) -> tuple[InferInput, bool]:
    spec = metadata.require_input(name)
    row = datatype(spec.datatype)
    what = f"input {shown(name)}"
    if not isinstance(value, list):
        raise InvalidInput(f"{what}: expected a (nested) list of values")
    array, single = _fit(array_from_nested(value, row, what), spec)
    return InferInput(name, row.name, array), single


def _fit(array: np.ndarray, spec: TensorSpec) -> tuple[np.ndarray, bool]:
    """Reshape a sample (or batch of samples) to the model's fixed trailing dimensions."""
    dims = spec.shape
    if _matches(array.shape, dims) or not dims or dims[0] != -1 or -1 in dims[1:]:
        return array, False
    row_size = element_count(dims[1:], spec.name)
    if array.size == row_size:
        return array.reshape((1, *dims[1:])), True
    if array.ndim >= 1 and array.shape[0] and array.size == array.shape[0] * row_size:
        return array.reshape((array.shape[0], *dims[1:])), False
    return array, False


def _matches(shape: tuple[int, ...], dims: tuple[int, ...]) -> bool:
    return len(shape) == len(dims) and all(d in (-1, s) for s, d in zip(shape, dims, strict=True))


def response_object(response: InferResponse, single: bool) -> dict[str, Any]:
    outputs = {
        output.name: _nested(output.data[0] if single else output.data, output.name)
        for output in response.outputs
    }
    if len(outputs) == 1:
        return {"output": next(iter(outputs.values()))}
    return {"output": outputs}


def _nested(array: np.ndarray, name: str) -> Any:
    values = v2_json.json_values(array.reshape(-1), name)
    if isinstance(values, list):
        return np.array(values, dtype=object).reshape(array.shape).tolist()
    return values.reshape(array.shape)
