"""The benchmark models of shared/PERFORMANCE.md, built with onnx.helper (random, seeded)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS = {"mlp": (784, 128, 10), "wide": (784, 2048, 2048, 10)}


def build(name: str, path: Path, seed: int = 0) -> Path:
    """``mlp`` (784→128→10) or ``wide`` (784→2048→2048→10): ReLU between, softmax out."""
    sizes = LAYERS[name]
    rng = np.random.default_rng(seed)
    init, nodes, current = [], [], "input"
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        weight = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)).astype(np.float32)
        init += [
            numpy_helper.from_array(weight, f"w{i}"),
            numpy_helper.from_array(np.zeros(n_out, np.float32), f"b{i}"),
        ]
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [f"h{i}"]))
        current = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    nodes.append(helper.make_node("Softmax", [current], ["probabilities"], axis=-1))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


BATCHED = """# Dynamic batching with the settings a Triton user would copy.
max_batch_size: 32
dynamic_batching:
  max_queue_delay_microseconds: 2000
  default_queue_policy: {max_queue_size: 1024}
"""


def repository(root: Path) -> Path:
    """mlp and wide, and each again behind the dynamic batcher (mlp_batched, wide_batched:
    the same weights)."""
    for name in LAYERS:
        build(name, root / name / "1" / "model.onnx")
    for name in ("mlp", "wide"):
        build(name, root / f"{name}_batched" / "1" / "model.onnx")
        (root / f"{name}_batched" / "config.yaml").write_text(BATCHED)
    return root
