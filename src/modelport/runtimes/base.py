"""The contract every runtime meets: load from a path, describe itself, infer, unload.

Runtimes are synchronous and batch-major; the registry runs them off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from modelport.config import ModelConfig
from modelport.tensor import TensorSpec


@dataclass(frozen=True)
class RuntimeOptions:
    intra_op_threads: int = 0  # 0: the runtime's default
    inter_op_threads: int = 0
    parameters: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    """The model config's ``parameters``, for runtime-specific settings."""
    shared_weights_dir: str = ""
    """Set when several worker processes serve the same models: weights are mapped from
    files here so they are in memory once (see ``runtimes/onnx_shared.py``)."""
    declared_inputs: tuple[TensorSpec, ...] = ()
    declared_outputs: tuple[TensorSpec, ...] = ()
    """The config's inputs and outputs, for formats that do not carry their own signature
    (TorchScript) or to name a program's positional tensors."""
    allow_pickle: bool = False
    """The server's ``--allow-pickle``: formats that run code when loaded (pickle, joblib,
    legacy Keras .h5) are loaded only with it *and* with the file's SHA-256 in the config."""
    trusted_sha256: tuple[str, ...] = ()

    def for_model(self, config: ModelConfig) -> RuntimeOptions:
        """These server-wide options with one model's config applied."""
        return replace(
            self,
            parameters=config.parameters,
            declared_inputs=config.inputs,
            declared_outputs=config.outputs,
            trusted_sha256=config.trusted_sha256,
        )


def error_line(exc: BaseException, *, last: bool = False) -> str:
    """One line of a framework's exception for an error message: the first, or the last where
    the framework puts the cause at the end (PyTorch, TensorFlow)."""
    text = getattr(exc, "message", "") or str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if last else lines[0]) if lines else type(exc).__name__


class Runtime(Protocol):
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None: ...

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        """Run on a batch; return at least the named outputs."""
        ...

    def unload(self) -> None: ...
