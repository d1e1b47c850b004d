"""Small ONNX models built with onnx.helper, written into a repository layout for tests."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

IDENTITY_TYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def _save(model: onnx.ModelProto, path: Path) -> Path:
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def _model(nodes: list[onnx.NodeProto], inputs: list, outputs: list, init: list | None = None):
    graph = helper.make_graph(nodes, "test", inputs, outputs, init or [])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def identity(path: Path, elem_type: int) -> Path:
    """``output = input`` with shape [-1, -1]."""
    model = _model(
        [helper.make_node("Identity", ["input"], ["output"])],
        [helper.make_tensor_value_info("input", elem_type, ["batch", "n"])],
        [helper.make_tensor_value_info("output", elem_type, ["batch", "n"])],
    )
    return _save(model, path)


def channel_means(path: Path, size: int = 32) -> Path:
    """An image model: ``means`` = each channel's mean of an NCHW image ``[-1, 3, size, size]``."""
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    model = _model(
        [helper.make_node("ReduceMean", ["image", "axes"], ["means"], keepdims=0)],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("means", TensorProto.FLOAT, ["batch", 3])],
        [axes],
    )
    model.opset_import[0].version = 18
    return _save(model, path)


def add_sub(path: Path) -> Path:
    """Triton's classic example: two FP32 [-1, 4] inputs → sum and difference."""
    spec = ["batch", 4]
    model = _model(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Sub", ["a", "b"], ["diff"]),
        ],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, spec) for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, spec) for n in ("sum", "diff")],
    )
    return _save(model, path)


def build_repository(root: Path) -> Path:
    """A repository with a model per datatype, add_sub, a multi-version model and a broken one."""
    for name, elem_type in IDENTITY_TYPES.items():
        identity(root / f"identity_{name.lower()}" / "1" / "model.onnx", elem_type)
    add_sub(root / "add_sub" / "1" / "model.onnx")
    for version in (1, 2, 3):
        identity(root / "versioned" / str(version) / "model.onnx", TensorProto.FLOAT)
    (root / "versioned" / "config.yaml").write_text(
        "version_policy: {latest: {num_versions: 2}}\nversion_labels: {stable: 2, canary: 3}\n"
    )
    identity(root / "batched" / "1" / "model.onnx", TensorProto.FLOAT)
    (root / "batched" / "config.yaml").write_text(
        "max_batch_size: 16\n"
        "dynamic_batching:\n"
        "  max_queue_delay_microseconds: 3000\n"
        "  default_queue_policy: {max_queue_size: 48}\n"
        "instance_group: [{count: 2, kind: KIND_CPU}]\n"
        "parameters: {execution: thread}\n"
    )
    python_model(root / "custom" / "1")
    (root / "broken" / "1").mkdir(parents=True)
    (root / "broken" / "1" / "model.onnx").write_bytes(b"this is not an onnx model")
    return root


PYTHON_MODEL = """
import numpy as np

from modelport.errors import InvalidInput


class Model:
    inputs = [{"name": "text", "datatype": "BYTES", "shape": [-1]},
              {"name": "x", "datatype": "FP32", "shape": [-1]}]
    outputs = [{"name": "length", "datatype": "INT64", "shape": [-1]},
               {"name": "scaled", "datatype": "FP32", "shape": [-1]}]

    def load(self, version_dir):
        self.factor = float((version_dir / "factor.txt").read_text())

    def infer(self, inputs):
        if b"reject" in list(inputs["text"]):
            raise InvalidInput("the word 'reject' is not accepted")
        if b"crash" in list(inputs["text"]):
            raise ZeroDivisionError("boom")
        return {"length": np.array([len(t) for t in inputs["text"]], np.int64),
                "scaled": inputs["x"] * self.factor}
"""


def python_model(version_dir: Path, factor: float = 2.5) -> Path:
    """A custom Python model: string lengths, and x times a factor read at load."""
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / "factor.txt").write_text(str(factor))
    (version_dir / "model.py").write_text(PYTHON_MODEL)
    return version_dir / "model.py"


SLOW_MODEL = """
import time

import numpy as np


class Model:
    inputs = [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]
    outputs = [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]

    def infer(self, inputs):
        time.sleep(float(inputs["x"].max()))
        return {"y": inputs["x"] * 2}
"""
SLOW_CONFIG = """max_batch_size: 8
dynamic_batching: {max_queue_delay_microseconds: 1000}
parameters: {execution: thread}
"""


def slow_model(model_dir: Path) -> Path:
    """A batched Python model that sleeps for its largest input (seconds), then doubles it:
    one instance, so a second request waits in the queue while the first runs."""
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "1" / "model.py").write_text(SLOW_MODEL)
    (model_dir / "config.yaml").write_text(SLOW_CONFIG)
    return model_dir
