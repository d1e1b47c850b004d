"""The seed's MNIST model on scikit-learn's bundled digits, exported to ONNX.

Flatten 28x28 → Dense 128 ReLU → Dense 10 softmax. The 8x8 digits are upscaled to
28x28 so the input is MNIST's 784 values in [0, 1]. scikit-learn trains the network
(its ``MLPClassifier`` is exactly this architecture); ``onnx.helper`` writes the same
weights as an ONNX graph, and the export is checked against scikit-learn's own
probabilities before anything is written.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from modelport.datasets import load_digits_28x28
from modelport.repository.staging import new_version, write_model_files

MODEL_NAME = "digits"
INPUT, OUTPUT = "input", "probabilities"
PARITY_TOLERANCE = 1e-5


def build(repository: Path, seed: int = 0, max_iter: int = 60) -> dict[str, Any]:
    """Train, check the export, write ``<repository>/digits/1/model.onnx``; return the scores."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits_28x28()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=seed, stratify=y
    )
    started = time.perf_counter()
    mlp = MLPClassifier(hidden_layer_sizes=(128,), max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        # A short, fixed training budget is the point of a demo that runs in seconds.
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(x_train, y_train)
    seconds = time.perf_counter() - started
    model = to_onnx(mlp.coefs_, mlp.intercepts_)
    error = parity_error(model, mlp.predict_proba(x_test), x_test)
    if error > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX export differs from scikit-learn by {error:.2e}")
    path = write(repository, model)
    accuracy = float(np.mean(np.argmax(_run(model, x_test), axis=1) == y_test))
    return {
        "path": str(path),
        "accuracy": accuracy,
        "train_seconds": seconds,
        "test_samples": len(y_test),
        "parity_max_abs_error": error,
    }


def to_onnx(weights: list[np.ndarray], biases: list[np.ndarray]) -> onnx.ModelProto:
    """784 → 128 ReLU → 10 softmax as an ONNX graph with a variable batch dimension."""
    named = {"w1": weights[0], "b1": biases[0], "w2": weights[1], "b2": biases[1]}
    init = [numpy_helper.from_array(np.asarray(a, np.float32), n) for n, a in named.items()]
    nodes = [
        helper.make_node("Gemm", [INPUT, "w1", "b1"], ["hidden"]),
        helper.make_node("Relu", ["hidden"], ["activated"]),
        helper.make_node("Gemm", ["activated", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [OUTPUT], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_mlp",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", 784])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 10])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([OUTPUT], {INPUT: x})[0])


def parity_error(model: onnx.ModelProto, expected: np.ndarray, x: np.ndarray) -> float:
    return float(np.max(np.abs(_run(model, x) - expected)))


def write(repository: Path, model: onnx.ModelProto) -> Path:
    with new_version(repository, MODEL_NAME) as version:  # published whole, by one rename
        onnx.save(model, version / "model.onnx")
    write_model_files(
        repository / MODEL_NAME,
        "# The seed's MNIST MLP trained on scikit-learn's digits (see `modelport examples`).\n"
        "label_file: labels.txt\n",
        [str(d) for d in range(10)],
    )
    return repository / MODEL_NAME / "1" / "model.onnx"
