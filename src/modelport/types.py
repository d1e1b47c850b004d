"""The in-memory request and response: one shape per message, which every codec targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from modelport.errors import InvalidInput
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


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    name: str
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    versions: tuple[str, ...] = ()
    max_batch_size: int = 0
    """Above 0, dim 0 of every input is the batch and may not exceed this."""

    def input(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def require_input(self, name: str) -> TensorSpec:
        """The named input, or ``InvalidInput`` naming the inputs the model has."""
        spec = self.input(name)
        if spec is None:
            known = [s.name for s in self.inputs]
            raise InvalidInput(f"unknown input '{name}' for model '{self.name}'; inputs: {known}")
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


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    name: str
    version: str
    extensions: tuple[str, ...]


@dataclass(slots=True)
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns


@dataclass(slots=True)
class ModelStats:
    """Triton's per-version inference statistics; updated on the event loop only."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    inference_count: int = 0  # samples (batch rows)
    execution_count: int = 0  # runtime calls
    last_inference_ms: int = 0


@dataclass(frozen=True, slots=True)
class VersionStats:
    name: str
    version: str
    stats: ModelStats
