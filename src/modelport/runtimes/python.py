"""Custom Python models: ``model.py`` in the version directory, for pre/post-processing or
anything a framework file cannot hold (the shape of Triton's Python backend).

The file defines a class named ``Model`` (or exactly one class with an ``infer`` method):

    class Model:
        inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
        outputs = [{"name": "length", "datatype": "INT64", "shape": [-1]}]

        def load(self, version_dir):          # optional; may also take no argument
            ...
        def infer(self, inputs):               # {name: ndarray} -> {name: array-like}
            return {"length": np.array([len(t) for t in inputs["text"]])}
        def unload(self):                      # optional
            ...

Loading runs the file's code: only serve repositories you trust (as with any code).
Errors raised by ``infer`` become 500s with their message; raise
``modelport.errors.InvalidInput`` to reject a request with a 400.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from modelport.errors import InferenceFailed, ModelportError
from modelport.runtimes.base import RuntimeOptions
from modelport.tensor import TensorSpec, checked_shape, datatype


class PythonRuntime:
    platform = "python"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        model_class = _model_class(_import(artifact))
        self.inputs = _specs(model_class, "inputs")
        self.outputs = _specs(model_class, "outputs")
        self._model = model_class()
        load = getattr(self._model, "load", None)
        if load is not None and inspect.signature(load).parameters:
            load(artifact.parent)
        elif load is not None:
            load()

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        try:
            result = self._model.infer(dict(inputs))
        except ModelportError:
            raise
        except Exception as exc:
            raise InferenceFailed(f"model.py raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, Mapping):
            raise InferenceFailed("model.py infer() must return a dict of outputs")
        return {name: np.asarray(value) for name, value in result.items() if name in outputs}

    def unload(self) -> None:
        unload = getattr(self._model, "unload", None)
        if unload is not None:
            unload()
        del self._model


def _import(artifact: Path) -> ModuleType:
    digest = hashlib.sha256(str(artifact.resolve()).encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"modelport_user_model_{digest}", artifact)
    if spec is None or spec.loader is None:
        raise ValueError(f"{artifact.name} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_class(module: ModuleType) -> type[Any]:
    if isinstance(getattr(module, "Model", None), type):
        return module.Model  # type: ignore[no-any-return]
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and v.__module__ == module.__name__ and hasattr(v, "infer")
    ]
    if len(found) != 1:
        raise ValueError("model.py must define a class Model (or one class with infer())")
    return found[0]


def _specs(model_class: type[Any], kind: str) -> tuple[TensorSpec, ...]:
    declared = getattr(model_class, kind, None)
    if not isinstance(declared, list) or not declared:
        raise ValueError(
            f"model.py: the model class must declare {kind} = [{{name, datatype, shape}}]"
        )
    return tuple(_spec(item, kind) for item in declared)


def _spec(item: Any, kind: str) -> TensorSpec:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ValueError(f"model.py: each of {kind} needs a name, datatype and shape")
    shape = item.get("shape", [])
    checked_shape([1 if dim == -1 else dim for dim in shape], item["name"])  # -1: variable
    return TensorSpec(item["name"], datatype(item.get("datatype", "")).name, tuple(shape))
