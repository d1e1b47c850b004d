"""Naming a framework model's tensors: what the artifact declares, what the config declares,
and how a model's return value (one tensor, a tuple, a dict) becomes named outputs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelport.errors import InferenceFailed
from modelport.tensor import TensorSpec


def renamed(
    found: Sequence[TensorSpec], declared: Sequence[TensorSpec], kind: str
) -> tuple[TensorSpec, ...]:
    """The artifact's own specs, or the config's when it declares the same number of them
    (positional: the config names a program's tensors in order)."""
    if not declared:
        return tuple(found)
    if len(declared) != len(found):
        raise ValueError(
            f"the config declares {len(declared)} {kind}(s) but the model has {len(found)}"
        )
    return tuple(declared)


def named_outputs(result: Any, names: Sequence[str]) -> dict[str, Any]:
    """A model's return value by output name: a dict by key, a tuple or list in order."""
    if isinstance(result, Mapping):
        if len(result) == len(names) and set(result) != set(names):
            return dict(zip(names, result.values(), strict=True))
        return dict(result)
    values = list(result) if isinstance(result, list | tuple) else [result]
    if len(values) != len(names):
        raise InferenceFailed(f"the model returned {len(values)} outputs, expected {len(names)}")
    return dict(zip(names, values, strict=True))


def variable_dims(shape: Sequence[Any]) -> tuple[int, ...]:
    """A framework's shape with unknown or symbolic dimensions as -1."""
    return tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in shape)


def writable(array: np.ndarray) -> np.ndarray:
    """Frameworks that wrap numpy memory want arrays they may write (binary bodies are not)."""
    return array if array.flags.writeable and array.flags.c_contiguous else np.array(array)
