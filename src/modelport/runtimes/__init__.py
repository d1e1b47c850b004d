"""Runtimes are plug-ins: import strings here, imported only when a model needs one."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from modelport.runtimes.base import Runtime, RuntimeOptions

RUNTIMES: dict[str, str] = {
    "onnx": "modelport.runtimes.onnx:OnnxRuntime",
    "python": "modelport.runtimes.python:PythonRuntime",
    "sklearn": "modelport.runtimes.sklearn:SklearnRuntime",
    "pytorch": "modelport.runtimes.pytorch:PyTorchRuntime",
    "tensorflow": "modelport.runtimes.tensorflow:TensorFlowRuntime",
    "xgboost": "modelport.runtimes.xgboost:XGBoostRuntime",
    "lightgbm": "modelport.runtimes.lightgbm:LightGBMRuntime",
}

ARTIFACTS: dict[str, str] = {
    "model.onnx": "onnx",
    "model.py": "python",
    "model.skops": "sklearn",
    "model.joblib": "sklearn",  # refused with a clear reason: pickle runs code
    "model.pkl": "sklearn",
    "model.pt2": "pytorch",
    "model.pt": "pytorch",
    "model.savedmodel": "tensorflow",  # Triton's name for a SavedModel directory
    "saved_model.pb": "tensorflow",  # TF Serving's layout: the version directory is one
    "model.keras": "tensorflow",
    "model.h5": "tensorflow",  # legacy Keras: runs code, refused unless trusted
    "model.json": "xgboost",
    "model.ubj": "xgboost",
    "model.txt": "lightgbm",
}
"""Default artifact file name → runtime name."""

SUFFIXES: dict[str, str] = {
    ".onnx": "onnx", ".py": "python", ".skops": "sklearn", ".joblib": "sklearn", ".pkl": "sklearn",
    ".pt2": "pytorch", ".pt": "pytorch", ".savedmodel": "tensorflow", ".keras": "tensorflow",
    ".h5": "tensorflow", ".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm",
}  # fmt: skip

PLATFORMS: dict[str, str] = {
    "onnxruntime_onnx": "onnx", "onnx": "onnx", "python": "python",
    "sklearn": "sklearn", "sklearn_skops": "sklearn",
    "pytorch": "pytorch", "pytorch_libtorch": "pytorch", "torch": "pytorch",
    "tensorflow": "tensorflow", "tensorflow_savedmodel": "tensorflow", "keras": "tensorflow",
    "tensorflow_keras": "tensorflow", "xgboost": "xgboost", "lightgbm": "lightgbm",
}  # fmt: skip
"""Config ``platform``/``backend`` values → runtime name."""

__all__ = ["ARTIFACTS", "RUNTIMES", "Runtime", "RuntimeOptions", "detect", "load", "preload"]


def detect(version_dir: Path, filename: str = "", platform: str = "") -> tuple[str, Path]:
    """The runtime name and artifact path for a version directory."""
    if filename:
        runtime = PLATFORMS.get(platform) or SUFFIXES.get(Path(filename).suffix)
        if runtime is None:
            raise ValueError(f"no runtime serves {filename!r}; known: {sorted(SUFFIXES)}")
        return runtime, version_dir / filename
    for artifact, runtime in ARTIFACTS.items():
        if (version_dir / artifact).exists():
            return runtime, version_dir / artifact
    raise ValueError(
        f"version {version_dir.name} has no model file; expected one of {sorted(ARTIFACTS)}"
    )


def load(runtime: str, artifact: Path, options: RuntimeOptions) -> Runtime:
    """Import the runtime's module (first use only) and load the artifact with it."""
    cls: type[Runtime] = getattr(preload(runtime), RUNTIMES[runtime].partition(":")[2])
    return cls(artifact, options)


def preload(runtime: str) -> ModuleType:
    """Import a runtime's module (and its framework) without loading anything."""
    return importlib.import_module(RUNTIMES[runtime].partition(":")[0])
