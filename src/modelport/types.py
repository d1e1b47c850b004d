"""The in-memory request and response: one shape per message, which every codec targets."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from modelport.errors import InvalidInput, shown
from modelport.tensor import TensorSpec

Parameters = Mapping[str, str | int | float | bool]


@dataclass(frozen=True, slots=True)
class InferInput:
    name: str
    datatype: str
    data: np.ndarray
    parameters: Parameters = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool | None = None
    """None: follow the request's ``binary_outputs`` default."""
    parameters: Parameters = field(default_factory=dict)


class Traced(Protocol):
    """What the data plane and the batcher record on a traced request."""

    def ran(self, version: str, queue_ns: int, compute_ns: int) -> None: ...

    def batch(self, members: Sequence[Traced], rows: int, compute_ns: int) -> None: ...


@dataclass(frozen=True, slots=True)
class InferRequest:
    model_name: str
    inputs: tuple[InferInput, ...]
    model_version: str = ""
    id: str = ""
    parameters: Parameters = field(default_factory=dict)
    outputs: tuple[RequestedOutput, ...] = ()
    binary_outputs: bool = False
    """Request-level default for outputs that are not listed or say nothing."""
    trace: Traced | None = field(default=None, compare=False)
    """The request's span when tracing is on (``tracing.RequestTrace``)."""


@dataclass(frozen=True, slots=True)
class InferOutput:
    name: str
    datatype: str
    data: np.ndarray
    binary: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


@dataclass(frozen=True, slots=True)
class InferResponse:
    model_name: str
    model_version: str
    outputs: tuple[InferOutput, ...]
    id: str = ""
    parameters: Parameters = field(default_factory=dict)
    queue_ns: int = field(default=0, compare=False)
    compute_ns: int = field(default=0, compare=False)
    """Where the request's time went (for the access log; not part of any protocol)."""


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    versions: tuple[str, ...] = ()
    max_batch_size: int = 0
    """Above 0, dim 0 of every input is the batch and may not exceed this."""
    default_outputs: tuple[RequestedOutput, ...] = field(init=False, compare=False)
    """Every output, as a request that names none asks for them."""
    input_names: list[str] = field(init=False, compare=False, repr=False)
    """The inputs' names, in order (a request's are compared with them)."""

    def __post_init__(self) -> None:
        every = tuple(RequestedOutput(spec.name) for spec in self.outputs)
        object.__setattr__(self, "default_outputs", every)
        object.__setattr__(self, "input_names", [spec.name for spec in self.inputs])

    def input(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def require_input(self, name: str) -> TensorSpec:
        """The named input, or ``InvalidInput`` naming the inputs the model has."""
        spec = self.input(name)
        if spec is None:
            known = [s.name for s in self.inputs]
            raise InvalidInput(
                f"unknown input {shown(name)} for model '{self.name}'; inputs: {known}"
            )
        return spec

    def output(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.outputs if spec.name == name), None)


@dataclass(frozen=True, slots=True)
class ModelIndexEntry:
    """One row of the repository index: a model version and its state."""

    name: str
    version: str
    state: str
    reason: str = ""
    resident: bool | None = None
    """Under a memory budget: whether its runtime holds memory now (None: no budget)."""
    memory_bytes: int = 0
    """Under a memory budget: its measured memory."""


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    name: str
    version: str
    extensions: tuple[str, ...]


LATENCY_BOUNDS_NS = tuple(
    int(seconds * 1e9)
    for seconds in (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1, 2.5, 10)
)  # fmt: skip
"""Upper bounds of the latency histograms, in ns (Prometheus reports them in seconds)."""
BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Upper bounds of the batch-size histogram, in rows."""


@dataclass(slots=True)
class Duration:
    """A count and total time, and how the times fall into :data:`LATENCY_BOUNDS_NS`."""

    count: int = 0
    ns: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_NS) + 1))
    """Non-cumulative counts per bound; the last slot holds times above every bound."""

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns
        self.buckets[bisect_left(LATENCY_BOUNDS_NS, ns)] += 1


@dataclass(slots=True)
class ModelStats:
    """Triton's per-version inference statistics, which Prometheus metrics are also read
    from at scrape time; updated on the event loop, or by a gRPC thread holding the model's
    lock (``LoadedModel.lock``), never by a runtime's worker thread."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    inference_count: int = 0  # samples (batch rows)
    execution_count: int = 0  # runtime calls
    last_inference_ms: int = 0
    batch_rows: int = 0
    """Rows over every execution (the batch-size histogram's sum)."""
    batch_sizes: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BOUNDS) + 1))

    def executed(self, rows: int) -> None:
        """One runtime call (a request or a whole batch) of ``rows`` rows."""
        self.execution_count += 1
        self.batch_rows += rows
        self.batch_sizes[bisect_left(BATCH_BOUNDS, rows)] += 1


@dataclass(frozen=True, slots=True)
class VersionStats:
    name: str
    version: str
    stats: ModelStats
