"""The one path every protocol takes: find the model, validate, run, build the response.

Transports decode bytes into ``types`` objects, call a method here, and encode what
comes back. Nothing in this module sees bytes, headers or status codes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from modelport.config import ModelConfig
from modelport.control import ModelControl
from modelport.errors import (
    InferenceFailed,
    InvalidInput,
    ModelNotFound,
    ModelportError,
    as_error,
    shown,
)
from modelport.metrics import ModelGauges
from modelport.model import LoadedModel
from modelport.registry import ModelRegistry
from modelport.requestlog import Label
from modelport.tensor import datatype_of
from modelport.types import (
    InferOutput,
    InferRequest,
    InferResponse,
    ModelIndexEntry,
    ModelMetadata,
    RequestedOutput,
    ServerMetadata,
    VersionStats,
)
from modelport.validate import validate_request

SERVER_NAME = "modelport"
EXTENSIONS = (
    "binary_tensor_data",
    "classification",
    "model_configuration",
    "model_repository",
    "model_repository(unload_dependents)",
    "parameters",
    "statistics",
)


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    entry: ModelIndexEntry
    metadata: ModelMetadata | None
    config: ModelConfig | None


class DataPlane:
    def __init__(
        self,
        registry: ModelRegistry,
        control: ModelControl,
        version: str,
        strict_readiness: bool = True,
    ) -> None:
        self._registry = registry
        self._control = control
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
        """Whether a known model (version) can serve; an unknown model is a 404, not False."""
        if name not in self._registry.names():
            raise ModelNotFound(f"unknown model {shown(name)}")
        return not self.draining and self._registry.is_ready(name, version)

    def require_ready(self, name: str, version: str = "") -> None:
        """Raise 404/503 for a model that cannot serve, before its request body is decoded."""
        self.model(name, version)

    def model(self, name: str, version: str = "") -> LoadedModel:
        """The version a request reaches (404/503 otherwise): a transport looks it up once
        and hands it to :meth:`compute_now` or :meth:`infer`; ``runs_now()`` says which."""
        return self._registry.ready(name, version) or self._registry.get(name, version)

    def model_metadata(self, name: str, version: str = "") -> ModelMetadata:
        model = self._registry.get(name, version)
        versions = tuple(m.version for m in self._registry.ready_models(name))
        return replace(model.metadata, versions=versions)

    def decoding_metadata(self, name: str, version: str = "") -> ModelMetadata:
        """The loaded model's own metadata, as it is (no version list built): what a codec
        needs to decode a request for it, on the hot path."""
        return self._registry.get(name, version).metadata

    def repository_index(self, ready_only: bool = False) -> list[ModelIndexEntry]:
        entries = self._control.index()
        return [e for e in entries if e.state == "READY"] if ready_only else entries

    def catalog(self, ready_only: bool = False) -> list[CatalogEntry]:
        """Every model version in the index, with its signature and config when it can
        serve (``GET /v2/models``, the console, ``/openapi.json``)."""
        found = []
        for entry in self.repository_index(ready_only):
            loaded = None
            if entry.state == "READY":
                model = self._registry.get(entry.name, entry.version)
                loaded = (model.metadata, model.config)
            found.append(CatalogEntry(entry, *(loaded or (None, None))))
        return found

    def gauges(self) -> list[ModelGauges]:
        """Each version's queue depth, requests in flight and statistics, now."""
        return self._registry.gauges()

    def feedback(self, name: str, request_id: str, labels: list[Label]) -> bool:
        """The true labels of an earlier request's rows, kept in the model's request log;
        True when its prediction was still in memory and the live metrics include them."""
        if name not in self._registry.names():
            raise ModelNotFound(f"unknown model {shown(name)}")
        logs = [m.request_log for m in self._registry.ready_models(name) if m.request_log]
        if not logs:
            raise InvalidInput(
                f"model {shown(name)} keeps no request log to join labels to: add a "
                "`logging:` block (sink, sample) to its config.yaml"
            )
        holder = next((log for log in logs if log.knows(request_id)), logs[-1])
        return holder.label(request_id, labels)

    def failed(self, exc: BaseException, model: str) -> ModelportError:
        """A failed inference request, from any transport and any thread: the one place it
        is counted (``modelport_inference_requests_total``, status ``failure``). Returns
        what its client is told; anything unexpected is logged here and told as INTERNAL."""
        error = as_error(exc, f"model {model!r}")
        self._registry.count_failure(error.code, model)
        return error

    def model_config(self, name: str, version: str = "") -> tuple[ModelMetadata, ModelConfig]:
        model = self._registry.get(name, version)
        return model.metadata, model.config

    def statistics(self, name: str = "", version: str = "") -> list[VersionStats]:
        """Statistics of one version, of every ready version of a model, or of all models."""
        if version:
            models = [self._registry.get(name, version)]
        else:
            if name and name not in self._registry.names():
                raise ModelNotFound(f"unknown model {shown(name)}")
            models = self._registry.ready_models(name)
        return [VersionStats(m.metadata.name, m.version, m.stats) for m in models]

    async def load_model(self, name: str, parameters: Mapping[str, object] | None = None) -> None:
        await self._control.load(name, parameters or {})

    async def unload_model(self, name: str) -> None:
        await self._control.unload(name)

    async def load_from(self, name: str, location: str) -> None:
        await self._control.load_from(name, location)

    async def unload_multi(self, name: str) -> None:
        await self._control.unload_multi(name)

    def multi_models(self) -> list[tuple[str, str]]:
        return sorted(self._control.multi_models.items())

    async def infer(
        self, request: InferRequest, request_id: str = "", model: LoadedModel | None = None
    ) -> InferResponse:
        """One inference (on ``model`` when the transport has looked it up already);
        ``request_id`` is what a request log records it under."""
        started = time.perf_counter_ns()
        if model is None:
            model = self.model(request.model_name, request.model_version)
        if model.runs_inline():  # restored if parked, then computed at once
            await model.resident_now()
            return self.compute_now(model, request, request_id)
        try:
            call = _prepare(model, request, started)
            timed = await model.run_timed(call.inputs, call.names, call.timeout_us, request.trace)
            return _finish(model, request, call, *timed, request_id)
        except Exception:
            model.stats.fail.add(time.perf_counter_ns() - started)
            raise

    def compute_now(
        self, model: LoadedModel, request: InferRequest, request_id: str = ""
    ) -> InferResponse:
        """The whole inference on this thread, without awaiting, on a model the caller looked
        up (:meth:`model`) and whose ``runs_now()`` said so: it runs inline and nothing is to
        be batched with this request."""
        started = time.perf_counter_ns()
        try:
            call = _prepare(model, request, started)
            results, compute = model.compute(call.inputs, call.names)
            with model.lock:
                model.ran(0, compute)
                return _finish(model, request, call, results, 0, compute, request_id)
        except Exception:
            with model.lock:
                model.stats.fail.add(time.perf_counter_ns() - started)
            raise

    def compute_anywhere(self, request: InferRequest, request_id: str = "") -> InferResponse | None:
        """The whole inference on the calling thread (a gRPC pool thread: no hand-off to the
        loop and back) for a ready model that runs inline; None for any other request, which
        goes through the loop (a batched, threaded or parked model, or one that is not
        ready: the loop's lookup says why)."""
        model = self._registry.ready(request.model_name, request.model_version)
        if model is None or not model.claim():
            return None
        try:
            return self.compute_now(model, request, request_id)
        finally:
            model.unclaim()


@dataclass(frozen=True, slots=True)
class _Call:
    """A validated request, ready for the runtime."""

    inputs: dict[str, np.ndarray]
    wanted: tuple[RequestedOutput, ...]
    names: list[str]
    started: int
    prepared: int
    timeout_us: int


def _prepare(model: LoadedModel, request: InferRequest, started: int) -> _Call:
    """The request checked (on every path: computed now or queued) and ready to run."""
    metadata = model.metadata
    validate_request(request, metadata)
    timeout_us = _timeout_us(request)
    wanted = request.outputs or metadata.default_outputs
    inputs = {tensor.name: tensor.data for tensor in request.inputs}
    names = [o.name for o in wanted]
    return _Call(inputs, wanted, names, started, time.perf_counter_ns(), timeout_us)


def _finish(
    model: LoadedModel,
    request: InferRequest,
    call: _Call,
    results: Mapping[str, np.ndarray],
    queued: int,
    compute: int,
    request_id: str,
) -> InferResponse:
    ran = time.perf_counter_ns()
    outputs = tuple([_output(o, results, request, model) for o in call.wanted])
    _record(model, request, call, ran)
    if request.trace is not None:
        request.trace.ran(model.version, queued, compute)
    name, version = model.metadata.name, model.version
    response = InferResponse(
        name, version, outputs, request.id, queue_ns=queued, compute_ns=compute
    )
    if model.request_log is not None:
        model.request_log.offer(request_id or request.id, request, response)
    return response


def _timeout_us(request: InferRequest) -> int:
    """Triton's ``timeout`` request parameter, in microseconds (0: the model's default)."""
    value = request.parameters.get("timeout", 0)
    if type(value) is not int or value < 0:
        raise InvalidInput("parameter 'timeout' must be a non-negative integer (microseconds)")
    return value


def _record(model: LoadedModel, request: InferRequest, call: _Call, ran: int) -> None:
    done = time.perf_counter_ns()
    stats = model.stats
    stats.compute_input.add(call.prepared - call.started)
    stats.compute_output.add(done - ran)
    stats.success.add(done - call.started)
    batched = model.metadata.max_batch_size > 0 and request.inputs[0].data.ndim > 0
    stats.inference_count += int(request.inputs[0].data.shape[0]) if batched else 1
    stats.last_inference_ms = time.time_ns() // 1_000_000
    model.used_ns = done


def _output(
    wanted: RequestedOutput,
    results: Mapping[str, np.ndarray],
    request: InferRequest,
    model: LoadedModel,
) -> InferOutput:
    array = results.get(wanted.name)
    if array is None:
        raise InferenceFailed(f"model '{request.model_name}' returned no output '{wanted.name}'")
    if type(array) is not np.ndarray:
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
