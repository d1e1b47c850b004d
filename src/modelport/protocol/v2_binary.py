"""The V2 binary tensor data extension: a JSON header followed by raw tensor bytes.

``Inference-Header-Content-Length`` gives the JSON part's size; tensors flagged with a
``binary_data_size`` parameter follow it in order. A header length of 0 means the whole
body is the raw bytes of a model's single input.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from modelport.errors import InvalidInput, shown
from modelport.protocol import jsonbody, v2_json
from modelport.tensor import TensorSpec, array_from_buffer, datatype
from modelport.types import InferInput, InferRequest, InferResponse, ModelMetadata, Parameters

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


@dataclass(frozen=True, slots=True)
class _Header:
    """A JSON header already decoded: the request less its tensors (no reference to the body
    it came with), and for each input its name, datatype, parameters, dtype, offset in the
    binary part and shape. It applies to a body whose binary part has ``binary_size`` bytes."""

    request: InferRequest
    inputs: tuple[tuple[str, str, Parameters, np.dtype, int, tuple[int, ...]], ...]
    binary_size: int

    def request_for(self, body: bytes, json_length: int, name: str, version: str) -> InferRequest:
        """The same request for another body with this header: new arrays, same checks."""
        inputs = [
            InferInput(tensor, datatype, np.ndarray(shape, dtype, body, json_length + offset), p)
            for tensor, datatype, p, dtype, offset, shape in self.inputs
        ]
        template = self.request
        return InferRequest(
            name,
            tuple(inputs),
            version,
            template.id,
            template.parameters,
            template.outputs,
            template.binary_outputs,
        )


def _header(request: InferRequest) -> _Header | None:
    """What another request with the same JSON header reuses: only when every input is
    numeric and carried in binary (values inline in JSON, or BYTES, are decoded each time)."""
    inputs, offset = [], 0
    for tensor in request.inputs:
        data = tensor.data
        if "binary_data_size" not in tensor.parameters or data.dtype.kind in "OSU":
            return None
        inputs.append(
            (tensor.name, tensor.datatype, tensor.parameters, data.dtype, offset, data.shape)
        )
        offset += data.nbytes
    return _Header(replace(request, inputs=()), tuple(inputs), offset)


class HeaderMemo:
    """JSON headers of the binary extension already decoded, by their bytes.

    A client sends the same header with every request of a kind (the same names, datatypes,
    shapes and sizes; only the bytes after it change), so decoding and checking it once is
    enough: a request whose header bytes and binary size match one seen before is rebuilt
    from it with new arrays, which is the same request a full decode would give. At most
    ``size`` headers of at most ``MAX_HEADER_BYTES`` each are kept, and none of the bodies
    they came with; when full, the memo starts again (a client that puts a new ``id`` in
    every header only ever misses)."""

    MAX_HEADER_BYTES = 4096

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._known: dict[bytes, _Header | None] = {}

    def __len__(self) -> int:
        return len(self._known)

    def decode(
        self, body: bytes, json_length: int, name: str, version: str, max_depth: int
    ) -> InferRequest:
        if json_length > self.MAX_HEADER_BYTES:
            return decode_request(body, json_length, name, version, max_depth)
        key = body[:json_length]
        known = self._known.get(key)
        if known is not None and len(body) - json_length == known.binary_size:
            return known.request_for(body, json_length, name, version)
        request = decode_request(body, json_length, name, version, max_depth)
        if key not in self._known:
            if len(self._known) >= self._size:
                self._known.clear()
            self._known[key] = _header(request)
        return request


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
