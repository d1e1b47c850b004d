"""The V2 binary tensor data extension: a JSON header followed by raw tensor bytes.

``Inference-Header-Content-Length`` gives the JSON part's size; tensors flagged with a
``binary_data_size`` parameter follow it in order. A header length of 0 means the whole
body is the raw bytes of a model's single input.
"""

from __future__ import annotations

from modelport.errors import InvalidInput, shown
from modelport.protocol import jsonbody, v2_json
from modelport.tensor import TensorSpec, array_from_buffer, datatype
from modelport.types import InferInput, InferRequest, InferResponse, ModelMetadata

HEADER = "inference-header-content-length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


def header_length(value: str | None, body_size: int) -> int | None:
    """The validated JSON-header length, or None when the header is absent."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 19:
        raise InvalidInput(
            f"Inference-Header-Content-Length must be a non-negative integer, got {shown(value)}"
        )
    length = int(text)
    if length > body_size:
        raise InvalidInput(
            f"Inference-Header-Content-Length {length} exceeds the body size {body_size}"
        )
    return length


def decode_request(
    body: bytes, json_length: int, model_name: str, model_version: str, max_depth: int
) -> InferRequest:
    """A request whose first ``json_length`` bytes are the JSON header."""
    view = memoryview(body)
    header = jsonbody.loads(view[:json_length], max_depth)
    cursor = v2_json.BinaryCursor(view[json_length:])
    return v2_json.decode_request(header, model_name, model_version, cursor)


def decode_raw_request(
    body: bytes, metadata: ModelMetadata, model_name: str, model_version: str
) -> InferRequest:
    """Header length 0: the body is the single input's bytes, as a batch of one."""
    if len(metadata.inputs) != 1:
        raise InvalidInput(
            f"a raw binary request (Inference-Header-Content-Length: 0) needs a model with one "
            f"input; '{metadata.name}' has {len(metadata.inputs)}"
        )
    spec = metadata.inputs[0]
    row = datatype(spec.datatype)
    shape = _raw_shape(spec, len(body), row.itemsize)
    data = array_from_buffer(memoryview(body), row, shape, f"input '{spec.name}'")
    return InferRequest(
        model_name=model_name,
        model_version=model_version,
        inputs=(InferInput(spec.name, spec.datatype, data),),
        binary_outputs=True,
    )


def _raw_shape(spec: TensorSpec, size: int, itemsize: int) -> tuple[int, ...]:
    shape = list(spec.shape)
    if shape and shape[0] == -1:
        shape[0] = 1
    unknown = [i for i, dim in enumerate(shape) if dim == -1]
    if not unknown:
        return tuple(shape)
    known = 1
    for dim in shape:
        known *= max(dim, 1)
    if len(unknown) > 1 or itemsize == 0 or size % (known * itemsize):
        raise InvalidInput(
            f"cannot infer the shape of input '{spec.name}' {list(spec.shape)} from a raw body "
            f"of {size} bytes; send a JSON header"
        )
    shape[unknown[0]] = size // (known * itemsize)
    return tuple(shape)


def encode_response(response: InferResponse) -> tuple[bytes, dict[str, str]]:
    """Body and headers; the binary form only when some output is sent in binary."""
    obj, chunks = v2_json.response_object(response)
    head = jsonbody.dumps(obj)
    if not chunks:
        return head, {"content-type": JSON_TYPE}
    headers = {HEADER: str(len(head)), "content-type": BINARY_TYPE}
    return b"".join([head, *chunks]), headers
