"""The contract every runtime meets: load from a path, describe itself, infer, unload.

Runtimes are synchronous and batch-major; the registry runs them off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

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
