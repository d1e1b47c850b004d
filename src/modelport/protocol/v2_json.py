"""Open Inference Protocol V2, JSON form: dicts from the wire ⇄ ``types`` objects.

The binary tensor extension (``v2_binary``) reuses this module for its JSON header;
tensors carried in binary are read through a :class:`BinaryCursor`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from modelport.config import ModelConfig
from modelport.errors import InvalidInput, shown
from modelport.tensor import (
    DATATYPES,
    DataType,
    TensorSpec,
    array_from_buffer,
    array_from_list,
    array_to_bytes,
    checked_shape,
    datatype,
)
from modelport.types import (
    InferInput,
    InferRequest,
    InferResponse,
    ModelIndexEntry,
    ModelMetadata,
    Parameters,
    RequestedOutput,
)

_SHM_KEYS = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")
BFLOAT16 = DATATYPES["BF16"].numpy


class BinaryCursor:
    """Hands out consecutive slices of the binary part of a request body."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._offset = 0

    def take(self, size: int, what: str) -> memoryview:
        if size > len(self._view) - self._offset:
            raise InvalidInput(
                f"{what}: binary_data_size {size} exceeds the {len(self._view) - self._offset} "
                "bytes of binary data left in the request body"
            )
        start, self._offset = self._offset, self._offset + size
        return self._view[start : self._offset]

    def finish(self) -> None:
        left = len(self._view) - self._offset
        if left:
            raise InvalidInput(
                f"request body has {left} bytes of binary data that no input's "
                "binary_data_size accounts for"
            )


def decode_request(
    obj: Any, model_name: str, model_version: str, binary: BinaryCursor | None = None
) -> InferRequest:
    """A V2 inference request object (already parsed JSON) as an ``InferRequest``."""
    if not isinstance(obj, dict):
        raise InvalidInput("inference request must be a JSON object")
    items = obj.get("inputs")
    if not isinstance(items, list) or not items:
        raise InvalidInput("inference request must have a non-empty 'inputs' list")
    parameters = parameters_of(obj.get("parameters"), "request")
    inputs = tuple(_decode_input(item, i, binary) for i, item in enumerate(items))
    reject_duplicates((tensor.name for tensor in inputs), "input")
    if binary is not None:
        binary.finish()
    return InferRequest(
        model_name=model_name,
        model_version=model_version,
        id=_request_id(obj.get("id", "")),
        inputs=inputs,
        parameters=parameters,
        outputs=_decode_outputs(obj.get("outputs")),
        binary_outputs=_flag(parameters, "binary_data_output", "request"),
    )


def _request_id(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'id' must be a string, got {type(value).__name__}")
    return value


def _decode_input(obj: Any, index: int, binary: BinaryCursor | None) -> InferInput:
    if not isinstance(obj, dict):
        raise InvalidInput(f"inputs[{index}] must be an object")
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"inputs[{index}] must have a non-empty string 'name'")
    what = f"input {shown(name)}"
    row = datatype(obj.get("datatype"))  # type: ignore[arg-type]
    shape = checked_shape(obj.get("shape"), what)
    parameters = parameters_of(obj.get("parameters"), what)
    if any(key in parameters for key in _SHM_KEYS):
        raise InvalidInput(f"{what}: shared memory is not supported by this server")
    data = _input_array(obj, parameters, row, shape, what, binary)
    return InferInput(name=name, datatype=row.name, data=data, parameters=parameters)


def _input_array(
    obj: dict[str, Any],
    parameters: Parameters,
    row: DataType,
    shape: tuple[int, ...],
    what: str,
    binary: BinaryCursor | None,
) -> np.ndarray:
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in obj:
            raise InvalidInput(f"{what}: has neither 'data' nor a 'binary_data_size' parameter")
        return array_from_list(obj["data"], row, shape, what)
    if type(size) is not int or size < 0:
        raise InvalidInput(f"{what}: binary_data_size must be a non-negative integer")
    if "data" in obj:
        raise InvalidInput(f"{what}: has both 'data' and a 'binary_data_size' parameter")
    if binary is None:
        raise InvalidInput(
            f"{what}: binary_data_size is set but the request has no binary part "
            "(Inference-Header-Content-Length header missing)"
        )
    return array_from_buffer(binary.take(size, what), row, shape, what)


def _decode_outputs(items: Any) -> tuple[RequestedOutput, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise InvalidInput("'outputs' must be a list")
    outputs = tuple(_decode_output(item, i) for i, item in enumerate(items))
    reject_duplicates((output.name for output in outputs), "output")
    return outputs


def _decode_output(obj: Any, index: int) -> RequestedOutput:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise InvalidInput(f"outputs[{index}] must be an object with a string 'name'")
    what = f"output '{obj['name']}'"
    parameters = parameters_of(obj.get("parameters"), what)
    if any(key in parameters for key in _SHM_KEYS):
        raise InvalidInput(f"{what}: shared memory is not supported by this server")
    binary = _flag(parameters, "binary_data", what) if "binary_data" in parameters else None
    return RequestedOutput(name=obj["name"], binary=binary, parameters=parameters)


def reject_duplicates(names: Iterable[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"{kind} {shown(name)} appears more than once in the request")
        seen.add(name)


def parameters_of(value: Any, what: str) -> dict[str, str | int | float | bool]:
    """A V2 ``parameters`` object: string keys, string/number/bool values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: 'parameters' must be an object")
    for key, item in value.items():
        if not isinstance(item, str | int | float | bool):
            raise InvalidInput(
                f"{what}: parameter '{key}' must be a string, number or boolean, "
                f"got {type(item).__name__}"
            )
    return value


def _flag(parameters: Parameters, key: str, what: str) -> bool:
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{what}: parameter '{key}' must be a boolean")
    return value


def tensor_object(
    name: str, datatype: str, data: np.ndarray, binary: bool, parameters: Parameters
) -> tuple[dict[str, Any], bytes | None]:
    """A tensor as V2 JSON: its values inline, or (binary) a ``binary_data_size`` parameter
    and the raw bytes to append after the JSON. Shared by responses and client requests."""
    item: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(data.shape)}
    if not binary:
        if parameters:
            item["parameters"] = dict(parameters)
        item["data"] = json_values(data.reshape(-1), name)
        return item, None
    chunk = array_to_bytes(data)
    item["parameters"] = {**parameters, "binary_data_size": len(chunk)}
    return item, chunk


def response_object(response: InferResponse) -> tuple[dict[str, Any], list[bytes]]:
    """The JSON part of a response, and the raw bytes of outputs sent in binary, in order."""
    chunks: list[bytes] = []
    outputs = []
    for output in response.outputs:
        item, chunk = tensor_object(output.name, output.datatype, output.data, output.binary, {})
        outputs.append(item)
        if chunk is not None:
            chunks.append(chunk)
    body: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version:
        body["model_version"] = response.model_version
    body["id"] = response.id
    if response.parameters:
        body["parameters"] = dict(response.parameters)
    body["outputs"] = outputs
    return body, chunks


def json_values(array: np.ndarray, name: str) -> Any:
    """Numbers stay a numpy array (orjson writes it natively); BYTES become strings."""
    if array.dtype.kind in "OSU":
        try:
            return [item if isinstance(item, str) else bytes(item).decode() for item in array.flat]
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"output '{name}' holds bytes that are not UTF-8; request it with binary_data"
            ) from exc
    if (array.dtype.kind == "f" and array.dtype.itemsize < 4) or array.dtype == BFLOAT16:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def metadata_object(metadata: ModelMetadata) -> dict[str, Any]:
    return {
        "name": metadata.name,
        "versions": list(metadata.versions),
        "platform": metadata.platform,
        "inputs": [_spec_object(spec) for spec in metadata.inputs],
        "outputs": [_spec_object(spec) for spec in metadata.outputs],
    }


def _spec_object(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def catalog_row(
    entry: ModelIndexEntry, metadata: ModelMetadata | None, config: ModelConfig | None
) -> dict[str, object]:
    """One row of ``GET /v2/models``: the index row, and for a version that can serve its
    platform, tensors and batching."""
    row = _index_row(entry)
    if metadata is not None:
        row.update(metadata_object(metadata))
        row.pop("versions")
        row["max_batch_size"] = metadata.max_batch_size
    batching = config.dynamic_batching if config is not None else None
    if batching is not None:
        row["dynamic_batching"] = {
            "max_queue_delay_microseconds": batching.max_queue_delay_us,
            "preferred_batch_size": list(batching.preferred_batch_sizes),
            "max_queue_size": batching.max_queue_size,
        }
    return row


def index_object(entries: Iterable[ModelIndexEntry]) -> list[dict[str, object]]:
    """Triton's index rows; under a memory budget each also says ``resident`` and its
    ``memory_bytes`` (extra keys, which clients of the protocol ignore)."""
    return [_index_row(e) for e in entries]


def _index_row(e: ModelIndexEntry) -> dict[str, object]:
    row: dict[str, object] = {
        "name": e.name,
        "version": e.version,
        "state": e.state,
        "reason": e.reason,
    }
    if e.resident is not None:
        row["resident"], row["memory_bytes"] = e.resident, e.memory_bytes
    return row


FEEDBACK_MAX_LABELS = 100_000
Label = str | int | float | bool


def decode_feedback(obj: object) -> tuple[str, list[Label]]:
    """``{"id": REQUEST_ID, "label": VALUE}`` or ``{"id": ..., "labels": [VALUE, ...]}``
    (one per row of the request): the request id and its labels."""
    if not isinstance(obj, dict) or set(obj) - {"id", "label", "labels"}:
        raise InvalidInput('feedback is {"id": REQUEST_ID, "label": VALUE} or "labels": [...]')
    if ("label" in obj) == ("labels" in obj):
        raise InvalidInput("feedback takes one of 'label' (one row) or 'labels' (a list)")
    labels = [obj["label"]] if "label" in obj else obj["labels"]
    return checked_feedback(obj.get("id"), labels)


def checked_feedback(request_id: object, labels: object) -> tuple[str, list[Label]]:
    """Feedback's request id and labels, refused unless well formed (JSON and gRPC alike)."""
    if not isinstance(request_id, str) or not request_id:
        raise InvalidInput("feedback needs 'id': the request id the prediction was answered with")
    if not isinstance(labels, list) or not 0 < len(labels) <= FEEDBACK_MAX_LABELS:
        raise InvalidInput(f"'labels' must be a list of 1 to {FEEDBACK_MAX_LABELS} values")
    if not all(type(v) in (str, int, float, bool) for v in labels):
        raise InvalidInput("each label must be a number, a string or a boolean")
    return request_id, labels
