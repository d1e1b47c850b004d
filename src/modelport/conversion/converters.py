"""One converter per source runtime, each the ecosystem's own: torch.onnx (dynamo exporter for
``torch.export`` programs, the TorchScript exporter for ``.pt``), tf2onnx for SavedModels,
Keras' ONNX export for ``.keras``, skl2onnx for scikit-learn, onnxmltools for XGBoost and
LightGBM. Each returns an ONNX model whose tensors may still carry the converter's names;
``rename`` gives them the source's names so the converted model answers the same requests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from modelport.tensor import TensorSpec

Converter = Callable[[Path, Any, tuple[TensorSpec, ...], int], onnx.ModelProto]
"""(artifact, loaded source runtime, its inputs, opset) → ONNX model."""

TREES_MAX_OPSET = 15  # what onnxmltools' tree converters support
TREE_OUTPUTS = {"label": "predict", "probabilities": "predict_proba", "variable": "predict"}


def from_pytorch(artifact: Path, runtime: Any, inputs: tuple[TensorSpec, ...], opset: int) -> Any:
    import torch

    names = [spec.name for spec in runtime.outputs]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters narrate; failures still raise
        target = Path(tmp) / "model.onnx"
        if artifact.suffix == ".pt2":
            program = torch.export.load(str(artifact))
            torch.onnx.export(program, f=str(target), dynamo=True, output_names=names)
        else:
            example = tuple(torch.zeros(_example_shape(spec)) for spec in inputs)
            torch.onnx.export(
                runtime.native, example, str(target), dynamo=False, opset_version=opset,
                input_names=[s.name for s in inputs], output_names=names,
                dynamic_axes={s.name: {0: "batch"} for s in (*inputs, *runtime.outputs)},
            )  # fmt: skip
        return onnx.load(str(target))


def from_savedmodel(
    artifact: Path, runtime: Any, inputs: tuple[TensorSpec, ...], opset: int
) -> Any:
    directory = artifact if artifact.is_dir() else artifact.parent
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.onnx"
        command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(directory)]
        command += ["--output", str(target), "--opset", str(opset)]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tf2onnx failed: {done.stderr.strip().splitlines()[-1:]}")
        return onnx.load(str(target))


def from_keras(artifact: Path, runtime: Any, inputs: tuple[TensorSpec, ...], opset: int) -> Any:
    import numpy as np

    runtime.native(np.zeros(_example_shape(inputs[0]), np.float32))  # Keras exports called models
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's own deprecation chatter
        target = Path(tmp) / "model.onnx"
        runtime.native.export(str(target), format="onnx", verbose=False)
        return onnx.load(str(target))


def from_sklearn(artifact: Path, runtime: Any, inputs: tuple[TensorSpec, ...], opset: int) -> Any:
    import numpy as np
    from skl2onnx import to_onnx

    sample = np.zeros((1, inputs[0].shape[1]), np.float32)
    options = {"zipmap": False} if hasattr(runtime.native, "predict_proba") else None
    model = to_onnx(runtime.native, sample, options=options, target_opset=opset)
    return rename(model, {"label": "predict", "probabilities": "predict_proba"})


def from_xgboost(artifact: Path, runtime: Any, inputs: tuple[TensorSpec, ...], opset: int) -> Any:
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    features = [(inputs[0].name, FloatTensorType([None, inputs[0].shape[1]]))]
    model = convert_xgboost(
        runtime.native, initial_types=features, target_opset=min(opset, TREES_MAX_OPSET)
    )
    return rename(model, TREE_OUTPUTS)


def from_lightgbm(artifact: Path, runtime: Any, inputs: tuple[TensorSpec, ...], opset: int) -> Any:
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    features = [(inputs[0].name, FloatTensorType([None, inputs[0].shape[1]]))]
    model = convert_lightgbm(
        runtime.native,
        initial_types=features,
        zipmap=False,
        target_opset=min(opset, TREES_MAX_OPSET),
    )
    return rename(model, TREE_OUTPUTS)


def converter_for(kind: str, artifact: Path) -> Converter:
    if kind == "tensorflow":
        return from_keras if artifact.suffix in (".keras", ".h5") else from_savedmodel
    table: dict[str, Converter] = {
        "pytorch": from_pytorch, "sklearn": from_sklearn,
        "xgboost": from_xgboost, "lightgbm": from_lightgbm,
    }  # fmt: skip
    if kind not in table:
        raise ValueError(f"no converter to ONNX for {kind} models ({artifact.name})")
    return table[kind]


def rename(model: onnx.ModelProto, names: dict[str, str]) -> onnx.ModelProto:
    """Rename graph tensors everywhere they appear (inputs, outputs, node edges)."""
    graph = model.graph
    for value in (*graph.input, *graph.output):
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    return model


def conform(model: onnx.ModelProto, outputs: tuple[TensorSpec, ...]) -> onnx.ModelProto:
    """The graph's outputs in the source's order, each declared with the source's datatype
    (a Cast where the converter chose another) and shape, so the converted model's
    metadata is the source's: clients that take the first output get the same one."""
    graph = model.graph
    by_name = {value.name: value for value in graph.output}
    if set(by_name) != {spec.name for spec in outputs}:
        return model  # the parity check names what is missing
    declared = [_declared(graph, by_name[spec.name], spec) for spec in outputs]
    del graph.output[:]
    graph.output.extend(declared)
    return model


def _declared(graph: onnx.GraphProto, value: onnx.ValueInfoProto, spec: TensorSpec) -> Any:
    from modelport.tensor import datatype

    wanted = onnx.helper.np_dtype_to_tensor_dtype(datatype(spec.datatype).numpy)
    if value.type.tensor_type.elem_type != wanted:
        produced = f"{spec.name}__converted"
        for node in graph.node:
            node.output[:] = [produced if n == spec.name else n for n in node.output]
            node.input[:] = [produced if n == spec.name else n for n in node.input]
        graph.node.append(onnx.helper.make_node("Cast", [produced], [spec.name], to=wanted))
    dims = [dim if dim >= 0 else "batch" if i == 0 else None for i, dim in enumerate(spec.shape)]
    return onnx.helper.make_tensor_value_info(spec.name, wanted, dims)


def _example_shape(spec: TensorSpec) -> tuple[int, ...]:
    return tuple(2 if i == 0 else max(dim, 1) for i, dim in enumerate(spec.shape))
