"""The one path every protocol takes: find the model, validate, run, build the response.

Transports decode bytes into ``types`` objects, call a method here, and encode what
comes back. Nothing in this module sees bytes, headers or status codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from modelport.errors import InferenceFailed, InvalidInput
from modelport.registry import LoadedModel, ModelRegistry
from modelport.tensor import datatype_of
from modelport.types import (
    InferOutput,
    InferRequest,
    InferResponse,
    ModelIndexEntry,
    ModelMetadata,
    RequestedOutput,
    ServerMetadata,
)
from modelport.validate import validate_request

SERVER_NAME = "modelport"
EXTENSIONS = ("binary_tensor_data", "classification", "model_repository", "parameters")


class DataPlane:
    def __init__(self, registry: ModelRegistry, version: str, strict_readiness: bool = True):
        self._registry = registry
        self._version = version
        self._strict = strict_readiness
        self.draining = False
        """Set at shutdown: readiness turns false at once while in-flight work finishes."""

    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        if self.draining:
            return False
        if self._strict:
            return self._registry.all_ready()
        return any(self._registry.is_ready(name) for name in self._registry.names())

    def server_metadata(self) -> ServerMetadata:
        return ServerMetadata(SERVER_NAME, self._version, EXTENSIONS)

    def model_ready(self, name: str, version: str = "") -> bool:
        return not self.draining and self._registry.is_ready(name, version)

    def require_ready(self, name: str, version: str = "") -> None:
        """Raise 404/503 for a model that cannot serve, before its request body is decoded."""
        self._registry.get(name, version)

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        model = self._registry.get(name, version)
        versions = tuple(self._registry.ready_versions(name))
        return _with_versions(model.metadata, versions)

    def repository_index(self, ready_only: bool = False) -> list[ModelIndexEntry]:
        entries = self._registry.index()
        return [e for e in entries if e.state == "READY"] if ready_only else entries

    def model_names(self) -> list[str]:
        return self._registry.names()

    async def infer(self, request: InferRequest) -> InferResponse:
        model = self._registry.get(request.model_name, request.model_version)
        metadata = model.metadata
        validate_request(request, metadata)
        wanted = request.outputs or tuple(RequestedOutput(spec.name) for spec in metadata.outputs)
        inputs = {tensor.name: tensor.data for tensor in request.inputs}
        results = await model.run(inputs, [output.name for output in wanted])
        outputs = tuple(_output(o, results, request, model) for o in wanted)
        return InferResponse(metadata.name, model.version, outputs, id=request.id)


def _with_versions(metadata: ModelMetadata, versions: tuple[str, ...]) -> ModelMetadata:
    return ModelMetadata(
        metadata.name,
        metadata.platform,
        metadata.inputs,
        metadata.outputs,
        versions,
        metadata.max_batch_size,
    )


def _output(
    wanted: RequestedOutput,
    results: Mapping[str, np.ndarray],
    request: InferRequest,
    model: LoadedModel,
) -> InferOutput:
    array = results.get(wanted.name)
    if array is None:
        raise InferenceFailed(f"model '{request.model_name}' returned no output '{wanted.name}'")
    array = np.asarray(array)
    top = wanted.parameters.get("classification")
    if top is not None:
        array = classify(array, top, model.labels.get(wanted.name, ()), wanted.name)
    binary = request.binary_outputs if wanted.binary is None else wanted.binary
    return InferOutput(wanted.name, datatype_of(array).name, array, binary)


def classify(array: np.ndarray, top: object, labels: Sequence[str], name: str) -> np.ndarray:
    """Triton's classification extension: the top-k scores as ``"score:index[:label]"``."""
    if type(top) is not int or top < 1:
        raise InvalidInput(f"output '{name}': classification must be a positive integer")
    if array.dtype.kind not in "fiu":
        raise InvalidInput(f"output '{name}': classification needs a numeric output")
    rows = array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(1, -1)
    count = min(top, rows.shape[1])
    order = np.argsort(-rows.astype(np.float64), axis=1, kind="stable")[:, :count]
    out = np.empty(order.shape, dtype=object)
    for (row, col), found in np.ndenumerate(order):
        index = int(found)
        label = f":{labels[index]}" if index < len(labels) else ""
        out[row, col] = f"{rows[row, index]:f}:{index}{label}".encode()
    return out if array.ndim > 1 else out[0]
