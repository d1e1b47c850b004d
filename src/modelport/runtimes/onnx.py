"""ONNX models on onnxruntime (CPU), always loaded from a path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from modelport.errors import InferenceFailed, InvalidInput
from modelport.runtimes.base import RuntimeOptions, error_line
from modelport.runtimes.onnx_shared import shared_copy
from modelport.tensor import TensorSpec, datatype_of_onnx


class OnnxRuntime:
    platform = "onnxruntime_onnx"

    def __init__(self, artifact: Path, options: RuntimeOptions) -> None:
        session_options = _session_options(options)
        if options.shared_weights_dir:
            artifact = shared_copy(artifact, Path(options.shared_weights_dir))
            session_options.add_session_config_entry("session.disable_prepacking", "1")
        self._session = ort.InferenceSession(
            str(artifact), session_options, providers=["CPUExecutionProvider"]
        )
        self.inputs = tuple(_spec(arg) for arg in self._session.get_inputs())
        self.outputs = tuple(_spec(arg) for arg in self._session.get_outputs())
        self._strings = {spec.name for spec in self.inputs if spec.datatype == "BYTES"}

    def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        feeds = inputs if not self._strings and type(inputs) is dict else self._feeds(inputs)
        try:
            results = self._session.run(list(outputs), feeds)
        except ort.capi.onnxruntime_pybind11_state.InvalidArgument as exc:
            raise InvalidInput(f"onnxruntime rejected the input: {error_line(exc)}") from exc
        except (ort.capi.onnxruntime_pybind11_state.Fail, RuntimeError) as exc:
            raise InferenceFailed(f"onnxruntime failed: {error_line(exc)}") from exc
        return dict(zip(outputs, results, strict=True))

    def _feeds(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: _feed(name, array, name in self._strings) for name, array in inputs.items()}

    def unload(self) -> None:
        del self._session


def _session_options(options: RuntimeOptions) -> ort.SessionOptions:
    so = ort.SessionOptions()
    params = options.parameters
    so.intra_op_num_threads = int(params.get("intra_op_thread_count", options.intra_op_threads))
    so.inter_op_num_threads = int(params.get("inter_op_thread_count", options.inter_op_threads))
    # Idle pool threads spin for a while after every run by default: on a server that is
    # most of a core burnt per thread at light load. Off unless the model's config asks.
    spin = "1" if _flag(params.get("allow_spinning", False)) else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if options.shared_weights_dir:  # several workers: no per-process arena held in reserve
        so.enable_cpu_mem_arena = False
    return so


def _flag(value: str | int | float | bool) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _spec(arg: Any) -> TensorSpec:
    row = datatype_of_onnx(arg.type)
    if row is None:
        raise ValueError(f"{arg.name}: ONNX type {arg.type} has no V2 datatype")
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in arg.shape)
    return TensorSpec(arg.name, row.name, shape)


def _feed(name: str, array: np.ndarray, is_string: bool) -> np.ndarray:
    if not is_string:
        return array
    try:
        return np.asarray(np.vectorize(_text, otypes=[object])(array))
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"input '{name}': the model takes strings; data is not UTF-8") from exc


def _text(item: bytes | str) -> str:
    return item if isinstance(item, str) else item.decode()
